"""The fake OpenRouter's model catalogue, how it routes a model id, and how it bills.

GET /models lists these models in the real shape (prices are strings in USD per token, a
router's are "-1"). A chat request's `model` is routed the way OpenRouter routes it:

- an id listed as it is, `:free` variants included (they are their own ids);
- a listed id with a routing suffix: `:nitro` (the fastest endpoint, here the priciest),
  `:floor` (the cheapest), `:exacto` (the first); `:online` adds web search, billed per request;
- a router (`openrouter/auto`), answered by another model at that model's price;
- anything else is 400 "<id> is not a valid model ID".

Each model is served by one or more endpoints (providers), each with its price, data policy
(zero retention, whether it keeps data to train on), throughput, latency and the parameters it
ignores. The request's `provider` object picks among them as OpenRouter's does:
`max_price` (USD per million tokens for prompt and completion, USD per request and per image),
`ignore`, `zdr`, `data_collection: "deny"` and `require_parameters` (an endpoint that would
ignore a parameter the request uses, such as `response_format`) leave out endpoints; `order`
tries the named providers first, `sort` orders the rest by price, throughput or latency. With
none left the answer is 404. Without `require_parameters`, an endpoint that ignores
`response_format` answers in prose, as real ones silently do. `models` lists fallbacks:
when a model cannot be routed, the next one answers, billed at its own price.

Billing counts tokens on its own, deterministically, by the providers' published rules rather
than the server's estimator: text is a token per 4 UTF-8 bytes plus 4 per message (a
structured-output schema is prompt text too), images by their family's rule, completion tokens
as written but never more than max_tokens. cost = prompt_tokens * prompt + completion_tokens *
completion + request + image * images (+ web search).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROUTING_SUFFIXES = frozenset({"nitro", "floor", "exacto"})
WEB_SEARCH_USD = 0.02  # five results at $4 per thousand, the web plugin's default
TOKENS_PER_MESSAGE = 4
BYTES_PER_TOKEN = 4


@dataclass(frozen=True)
class Endpoint:
    """One provider serving a model, at `price_factor` times the listed price."""

    provider: str
    price_factor: float = 1.0
    zdr: bool = False  # zero data retention
    collects_data: bool = True  # may store prompts and train on them
    throughput: float = 60.0  # tokens per second
    latency_s: float = 0.8
    ignores: frozenset[str] = frozenset()  # request parameters it silently drops

    @property
    def slug(self) -> str:
        return self.provider.lower()


LISTED_ONLY = (Endpoint("FakeProvider"),)
# The default model's providers: the listed one, a private one, and a fast one.
PRIVATE = Endpoint("PrivateProvider", zdr=True, collects_data=False, throughput=40, latency_s=1.5)
FAST = Endpoint("FastProvider", price_factor=1.0, throughput=250, latency_s=0.3)


@dataclass(frozen=True)
class FakeModel:
    id: str
    prompt: str
    completion: str
    vision: bool = True
    request: str | None = None
    image: str | None = None
    endpoints: tuple[Endpoint, ...] = LISTED_ONLY  # the listed price's endpoint first
    answered_by: str | None = None  # routers: the model that answers

    def listing(self) -> dict[str, Any]:
        """The model as GET /models lists it."""
        inputs = ["text", "image"] if self.vision else ["text"]
        pricing = {"prompt": self.prompt, "completion": self.completion}
        pricing.update({k: v for k, v in (("request", self.request), ("image", self.image)) if v})
        return {
            "id": self.id,
            "name": self.id,
            "context_length": 1_048_576 if self.vision else 131_072,
            "architecture": {
                "modality": "text+image->text" if self.vision else "text->text",
                "input_modalities": inputs,
                "output_modalities": ["text"],
            },
            "pricing": pricing,
            "top_provider": {"max_completion_tokens": 65_536, "is_moderated": False},
            "supported_parameters": [
                "max_tokens",
                "temperature",
                "response_format",
                "structured_outputs",
            ],
            "reasoning": {"mandatory": False},
        }


CATALOGUE = (
    FakeModel(
        "google/gemini-2.5-flash",
        "0.0000003",
        "0.0000025",
        endpoints=(Endpoint("FakeProvider"), PRIVATE, FAST),
    ),
    FakeModel("google/gemini-2.5-flash-lite", "0.0000001", "0.0000004"),
    FakeModel("google/gemini-3-flash-preview", "0.0000005", "0.000003"),
    FakeModel("google/gemini-3.1-flash-lite", "0.00000025", "0.0000015"),
    FakeModel("google/gemma-4-31b-it:free", "0", "0"),
    FakeModel("openai/gpt-5-mini", "0.00000025", "0.000002"),
    FakeModel("openai/gpt-5-nano", "0.00000005", "0.0000004"),
    FakeModel("openai/gpt-5", "0.00000125", "0.00001"),
    FakeModel("openai/gpt-4o", "0.0000025", "0.00001"),
    FakeModel("openai/gpt-4.1", "0.000002", "0.000008"),
    FakeModel("openai/o1-pro", "0.00015", "0.0006"),
    FakeModel("anthropic/claude-sonnet-4.5", "0.000003", "0.000015"),
    FakeModel("anthropic/claude-opus-4.7", "0.000005", "0.000025"),
    FakeModel("qwen/qwen3-vl-235b-a22b-instruct", "0.0000003", "0.0000012"),
    FakeModel(
        "qwen/qwen2.5-vl-72b-instruct",
        "0.00000025",
        "0.00000075",
        endpoints=(Endpoint("FakeProvider"), Endpoint("FastProvider", price_factor=3.0)),
    ),
    FakeModel("qwen/qwen3.8-27b:free", "0", "0"),
    FakeModel(
        "meta-llama/llama-3.2-90b-vision-instruct",
        "0.00000035",
        "0.0000004",
        request="0.0002",
        image="0.0005058",
    ),
    FakeModel(
        "mistralai/pixtral-large-2411",
        "0.000002",
        "0.000006",
        # The first endpoint drops response_format: unless the request requires its
        # parameters, a structured-output request gets prose from it.
        endpoints=(Endpoint("LaxProvider", ignores=frozenset({"response_format"})), LISTED_ONLY[0]),
    ),
    FakeModel("meta-llama/llama-3.3-70b-instruct", "0.0000001", "0.00000032", vision=False),
    FakeModel("openrouter/auto", "-1", "-1", answered_by="openai/gpt-4o"),
)
BY_ID = {model.id: model for model in CATALOGUE}


@dataclass(frozen=True)
class Routing:
    """Where a request goes: the model that answers, the endpoint, and any plugin charge."""

    model: FakeModel
    endpoint: Endpoint
    plugin_usd: float = 0.0

    def price(self, name: str) -> float:
        listed = getattr(self.model, name)
        return float(listed) * self.endpoint.price_factor if listed else 0.0

    def drops(self, parameter: str) -> bool:
        return parameter in self.endpoint.ignores

    def cost(self, prompt_tokens: int, completion_tokens: int, images: int) -> float:
        return (
            prompt_tokens * self.price("prompt")
            + completion_tokens * self.price("completion")
            + self.price("request")
            + images * self.price("image")
            + self.plugin_usd
        )


@dataclass(frozen=True)
class Refusal:
    """Why a model id cannot be served: the status and message the real API answers with."""

    status: int
    message: str
    metadata: dict[str, Any] | None = None


def route_request(body: dict[str, Any], has_images: bool) -> Routing | Refusal:
    """Where a request goes: its model, or else each of its `models` fallbacks in turn; when
    none can be routed, the last one's refusal (as OpenRouter returns the last error)."""
    requested = [body["model"]] if isinstance(body.get("model"), str) else []
    refusal = Refusal(400, "No models provided")
    for model_id in dict.fromkeys([*requested, *body.get("models", [])]):
        routed = route_model(body, model_id, has_images)
        if isinstance(routed, Routing):
            return routed
        refusal = routed
    return refusal


def route_model(body: dict[str, Any], requested: str, has_images: bool) -> Routing | Refusal:
    base, _, suffix = requested.partition(":")
    model = BY_ID.get(requested)
    if model is None and suffix in (*ROUTING_SUFFIXES, "online"):
        model = BY_ID.get(base)
    if model is None:
        return Refusal(400, f"{requested} is not a valid model ID")
    if model.answered_by is not None:
        model = BY_ID[model.answered_by]
    if has_images and not model.vision:
        return Refusal(
            404,
            "No endpoints found that support image input",
            {"failed_routing_step": "Filter by Image Support", "model": requested},
        )
    endpoints = _allowed(model, requested, body)
    if isinstance(endpoints, Refusal):
        return endpoints
    plugin_usd = WEB_SEARCH_USD if suffix == "online" and model.id != requested else 0.0
    preferred = _preferred(endpoints, _preferences(body))
    return Routing(model, _pick(preferred, suffix if model.id != requested else ""), plugin_usd)


def _preferences(body: dict[str, Any]) -> dict[str, Any]:
    provider = body.get("provider")
    return provider if isinstance(provider, dict) else {}


def _pick(endpoints: list[Endpoint], suffix: str) -> Endpoint:
    if suffix == "nitro":
        return max(endpoints, key=lambda endpoint: endpoint.price_factor)
    if suffix == "floor":
        return min(endpoints, key=lambda endpoint: endpoint.price_factor)
    return endpoints[0]


_PER_MILLION = {"prompt": 1e6, "completion": 1e6, "request": 1.0, "image": 1.0}
_SORT_KEYS = {
    "price": lambda endpoint: endpoint.price_factor,
    "throughput": lambda endpoint: -endpoint.throughput,
    "latency": lambda endpoint: endpoint.latency_s,
}


def _allowed(model: FakeModel, requested: str, body: dict[str, Any]) -> list[Endpoint] | Refusal:
    """The endpoints the request's provider preferences and parameters leave in, or the 404
    (in the real API's words) for the filter that left none."""
    preferences = _preferences(body)
    ignored = {slug.lower() for slug in preferences.get("ignore", [])}
    used = {name for name in ("response_format", "temperature") if name in body}
    strict = bool(preferences.get("require_parameters"))
    filters: list[tuple[Callable[[Endpoint], bool], str]] = [
        (
            lambda endpoint: _within_max_price(model, endpoint, preferences.get("max_price")),
            f"No endpoints found for {requested} within the requested max_price.",
        ),
        (
            lambda endpoint: endpoint.slug not in ignored,
            "No allowed providers are available for the selected model.",
        ),
        (
            lambda endpoint: (
                (endpoint.zdr or not preferences.get("zdr"))
                and not (endpoint.collects_data and preferences.get("data_collection") == "deny")
            ),
            "No endpoints found matching your data policy.",
        ),
        (
            lambda endpoint: not (strict and used & endpoint.ignores),
            "No endpoints found that can handle the requested parameters.",
        ),
    ]
    endpoints = list(model.endpoints)
    for keep, refusal in filters:
        endpoints = [endpoint for endpoint in endpoints if keep(endpoint)]
        if not endpoints:
            return Refusal(404, refusal)
    return endpoints


def _preferred(endpoints: list[Endpoint], preferences: dict[str, Any]) -> list[Endpoint]:
    """`endpoints` in the order they are tried: the ones `order` names first, in its order,
    then the others, sorted if `sort` says how."""
    sort = preferences.get("sort")
    rest = sorted(endpoints, key=_SORT_KEYS[sort]) if sort in _SORT_KEYS else endpoints
    ranks = {slug.lower(): rank for rank, slug in enumerate(preferences.get("order", []))}
    return sorted(rest, key=lambda endpoint: ranks.get(endpoint.slug, len(ranks)))


def _within_max_price(model: FakeModel, endpoint: Endpoint, max_price: object) -> bool:
    if not isinstance(max_price, dict):
        return True
    routing = Routing(model, endpoint)
    return all(
        routing.price(name) * scale <= float(max_price[name]) * (1 + 1e-9)
        for name, scale in _PER_MILLION.items()
        if name in max_price
    )


# --- Token counting -------------------------------------------------------------------------


def text_tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)


def prompt_tokens(body: dict[str, Any], image_tokens: int) -> int:
    messages = body["messages"]
    tokens = TOKENS_PER_MESSAGE * len(messages) + image_tokens
    for message in messages:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        tokens += sum(text_tokens(p["text"]) for p in parts if p.get("type") == "text")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and "json_schema" in response_format:
        tokens += text_tokens(json.dumps(response_format["json_schema"]))
    return tokens


def image_tokens(model_id: str, width: int, height: int, detail: str | None) -> int:
    """Tokens one image costs on this model, by its family's published rule."""
    name = model_id.split("/", 1)[-1].split(":", 1)[0]
    if name.startswith(("gemini-1", "gemini-2")):
        return 258 if max(width, height) <= 384 else 258 * _tiles(width, height, 768)
    if name.startswith("gemini-"):
        return 1120
    for prefix, multiplier in _OPENAI_PATCH_MULTIPLIERS.items():
        if name.startswith(prefix):
            return math.ceil(min(_tiles(width, height, 32), 1536) * multiplier)
    if name.startswith(("gpt-", "chatgpt-", "o1", "o3")):
        return 85 if detail == "low" else 85 + 170 * _openai_tiles(width, height)
    if name.startswith("claude-"):
        return math.ceil(width * height / 750)
    if name.startswith("qwen3"):
        return _tiles(width, height, 32) + 2
    if name.startswith(("qwen2", "qwen-vl")):
        return _tiles(width, height, 28) + 2
    if name.startswith("llama-3.2"):
        return 1601 * min(4, _tiles(width, height, 560))
    # Pixtral and anything else: 16 px patches and a break token at the end of each row.
    return _tiles(width, height, 16) + math.ceil(height / 16)


_OPENAI_PATCH_MULTIPLIERS = {
    "gpt-5-mini": 1.62,
    "gpt-4.1-mini": 1.62,
    "gpt-5-nano": 2.46,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
}


def _openai_tiles(width: int, height: int) -> int:
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    return _tiles(math.floor(width * scale), math.floor(height * scale), 512)


def _tiles(width: float, height: float, tile: int) -> int:
    return math.ceil(width / tile) * math.ceil(height / tile)
