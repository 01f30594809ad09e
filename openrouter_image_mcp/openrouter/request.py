"""What the server asks OpenRouter for: one chat-completion request carrying its images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ImageInput:
    """One image as a message shows it: a caption (if any), then its parts (several for tiles)."""

    urls: tuple[str, ...]
    caption: str | None = None


def image_message(prompt: str, image_data_url: str, detail: str) -> dict[str, Any]:
    """One user message with the prompt and the image; the text part goes first."""
    return images_message(prompt, [ImageInput((image_data_url,))], detail)


def images_message(prompt: str, images: Sequence[ImageInput], detail: str) -> dict[str, Any]:
    """One user message: the prompt, then each image in order, each after its caption."""
    content: list[dict[str, Any]] = [_text(prompt)]
    for image in images:
        if image.caption is not None:
            content.append(_text(image.caption))
        content.extend(
            {"type": "image_url", "image_url": {"url": url, "detail": detail}} for url in image.urls
        )
    return {"role": "user", "content": content}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A `/chat/completions` request, without streaming."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float | None = None
    response_format: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None  # provider routing preferences, e.g. max_price
    models: tuple[str, ...] | None = None  # `model` first, then the fallbacks, in order

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
        if self.models is not None:
            body["models"] = list(self.models)
        return body
