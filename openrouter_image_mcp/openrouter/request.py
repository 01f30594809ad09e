"""What the server asks OpenRouter for: one chat-completion request carrying an image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def image_message(prompt: str, image_data_url: str, detail: str) -> dict[str, Any]:
    """One user message with the prompt and the image; the text part goes first."""
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_data_url, "detail": detail}},
        ],
    }


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A `/chat/completions` request, without streaming."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float | None = None
    response_format: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None  # provider routing preferences, e.g. max_price

    def as_body(self) -> dict[str, Any]:
        """The JSON body; optional fields only when set, so `temperature=0` is sent as 0."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.response_format is not None:
            body["response_format"] = self.response_format
        if self.provider is not None:
            body["provider"] = self.provider
        return body
