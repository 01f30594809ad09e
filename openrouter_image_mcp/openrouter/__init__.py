"""The OpenRouter chat-completions client: requests, answers, retries and error mapping."""

from openrouter_image_mcp.openrouter.backoff import Backoff
from openrouter_image_mcp.openrouter.client import OpenRouterClient
from openrouter_image_mcp.openrouter.completion import Completion, Usage
from openrouter_image_mcp.openrouter.request import (
    ChatRequest,
    ImageInput,
    image_message,
    images_message,
)

__all__ = [
    "Backoff",
    "ChatRequest",
    "Completion",
    "ImageInput",
    "OpenRouterClient",
    "Usage",
    "image_message",
    "images_message",
]
