"""All configuration, read once from the environment and an optional `.env` file.

The environment variable names are a public interface: the README, `.env.example` and
deployments use them. OpenRouter settings use the `OPENROUTER_` prefix, everything else
`IMAGE_MCP_`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
PROJECT_URL = "https://github.com/openrouter-image-mcp/openrouter-image-mcp"
# Asymmetric JWS algorithms FastMCP's JWTVerifier checks; HMAC and "none" can never be allowed.
JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

CommaList = Annotated[list[str], NoDecode]
# One limit of IMAGE_MCP_RATE_LIMIT in the notation of `limits` ("60/minute", "5 per 2
# seconds"; several joined by , ; or |), checked without importing the library, which loads
# on the first call (tests/cost/test_configuration.py checks that it reads what this accepts).
RATE_LIMIT_ITEM = re.compile(
    r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(?:second|minute|hour|day|month|year)s?\s*",
    re.IGNORECASE,
)
RATE_LIMIT_SEPARATORS = re.compile(r"[,;|]")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_https_url(url: str) -> str:
    """An https URL (http only on loopback), without credentials, query or fragment."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback_url(url):
        raise ValueError("must be an https:// URL (http:// only for 127.0.0.1, localhost or [::1])")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an https:// URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    return url


@dataclass(frozen=True)
class AuthToken:
    """One accepted bearer token and the client name it stands for."""

    client: str
    secret: str = field(repr=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMAGE_MCP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # --- OpenRouter -------------------------------------------------------------------------
    openrouter_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENROUTER_API_KEY"
    )
    openrouter_base_url: str = Field(
        default="https://openrouter.ai/api/v1", validation_alias="OPENROUTER_BASE_URL"
    )
    default_model: str = Field(
        default="google/gemini-2.5-flash",
        validation_alias=AliasChoices("OPENROUTER_DEFAULT_MODEL", "OPENROUTER_MODEL"),
    )
    app_url: str = Field(
        default=PROJECT_URL,
        validation_alias="OPENROUTER_APP_URL",
        description="Sent as HTTP-Referer so the app shows up in OpenRouter's rankings.",
    )
    app_title: str = Field(default="OpenRouter Image MCP", validation_alias="OPENROUTER_APP_TITLE")
    upstream_connect_timeout_s: float = Field(default=10.0, gt=0)
    upstream_timeout_s: float = Field(default=120.0, gt=0, description="Total deadline per call.")
    upstream_max_retries: int = Field(default=2, ge=0, le=10)
    default_max_tokens: int = Field(default=2048, ge=1)
    max_tokens_ceiling: int = Field(default=8192, ge=1)
    review_max_tokens: int = Field(
        default=4096,
        ge=1,
        description=(
            "max_tokens for the two review tools when the call omits it: their JSON answers run "
            "to ~2000 tokens, and a cut-off answer is a failed call. Capped by the ceiling."
        ),
    )
    allowed_models: CommaList = Field(default_factory=list)
    max_question_chars: int = Field(default=10_000, ge=1)
    # Routing and privacy: OpenRouter's `models` (fallbacks) and `provider` preferences.
    fallback_models: CommaList = Field(default_factory=list)
    provider_zdr: bool = False
    provider_data_collection: Literal["allow", "deny"] | None = None
    provider_sort: Literal["price", "throughput", "latency"] | None = None
    provider_order: CommaList = Field(default_factory=list)
    provider_ignore: CommaList = Field(default_factory=list)

    # --- Transport --------------------------------------------------------------------------
    transport: Literal["http", "stdio"] = "http"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    stateless_http: bool = True
    auth_tokens: Annotated[list[AuthToken], NoDecode] = Field(default_factory=list, repr=False)
    allow_unauthenticated: bool = False
    allowed_origins: CommaList = Field(default_factory=list)
    max_request_bytes: int | None = Field(default=None, ge=1024)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    max_connections: int = Field(
        default=1000,
        ge=16,
        description="Open HTTP connections at once; lowered to fit the file-descriptor limit.",
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds a connection has to send its request headers."
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, description="Seconds an idle connection stays open between requests."
    )
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_per_client: bool = Field(
        default=False,
        description=(
            "Add a client label to the call and cost counters of GET /metrics: one series per "
            "client, so only for a bounded set of clients."
        ),
    )

    # --- OAuth (hosted agents) --------------------------------------------------------------
    public_url: str | None = None
    oauth_issuer: str | None = None
    oauth_jwks_uri: str | None = None
    oauth_audience: str | None = Field(default=None, min_length=1)
    oauth_required_scopes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    oauth_client_claim: str = Field(default="sub", min_length=1)
    oauth_algorithms: CommaList = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    oauth_key_refetch_s: float = Field(default=30.0, ge=0, le=3600)

    # --- Image input ------------------------------------------------------------------------
    max_image_bytes: int = Field(default=20 * MIB, ge=1024)
    max_pixels: int = Field(default=50_000_000, ge=1)
    allowed_hosts: CommaList = Field(default_factory=list)
    blocked_hosts: CommaList = Field(default_factory=list)
    fetch_connect_timeout_s: float = Field(default=5.0, gt=0)
    fetch_timeout_s: float = Field(default=20.0, gt=0, description="Headers and body together.")
    max_redirects: int = Field(default=5, ge=0, le=20)
    file_roots: Annotated[list[Path] | None, NoDecode] = None
    allow_filesystem_root: bool = False
    max_images_per_call: int = Field(default=8, ge=1, le=64)

    # --- Image preparation ------------------------------------------------------------------
    max_edge: int | None = Field(default=None, ge=16)
    pixel_budget: int | None = Field(default=None, ge=256)
    jpeg_quality: int = Field(default=85, ge=30, le=100)
    image_workers: int = Field(default=2, ge=1, le=64)
    prepare_timeout_s: float = Field(default=10.0, gt=0, le=600)
    prepare_memory_mb: int | None = Field(default=None, ge=128)
    max_tiles: int = Field(default=6, ge=1, le=32)

    # --- Cost control -----------------------------------------------------------------------
    rate_limit: str = "60/minute"
    max_concurrency: int = Field(default=16, ge=1)
    queue_timeout_s: float = Field(default=30.0, gt=0)
    budget_usd_per_day: float | None = Field(default=None, gt=0)
    global_budget_usd_per_day: float | None = Field(default=None, gt=0)
    max_cost_per_call_usd: float | None = Field(default=None, gt=0)
    admin_clients: CommaList = Field(default_factory=list)
    cache_ttl_s: int = Field(default=3600, ge=0)
    cache_max_entries: int = Field(default=1024, ge=1)
    cache_max_bytes: int = Field(default=64 * MIB, ge=1024)
    redis_url: SecretStr | None = None
    cache_redis_url: SecretStr | None = None

    _split = field_validator(
        "allowed_models",
        "allowed_origins",
        "allowed_hosts",
        "blocked_hosts",
        "oauth_algorithms",
        "admin_clients",
        "fallback_models",
        "provider_order",
        "provider_ignore",
        mode="before",
    )(_split_commas)

    @field_validator("auth_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        tokens = []
        for index, item in enumerate(_split_commas(value), start=1):
            client, sep, secret = item.partition(":")
            if not sep or not client.strip():
                # A positional default name would move a client's budget and limits to
                # another client whenever the list is reordered.
                raise ValueError(
                    f"token #{index} has no name; write each as name:token "
                    "(the name stands for the client in logs, rate limits and budgets)"
                )
            if len(secret) < 8:
                raise ValueError(
                    f"token #{index} is shorter than 8 characters; use a long random token "
                    "(e.g. `openssl rand -hex 32`)"
                )
            tokens.append(AuthToken(client.strip(), secret.strip()))
        return tokens

    @field_validator("oauth_required_scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: object) -> object:
        # Scopes never contain spaces or commas (RFC 6749 §3.3): accept either separator.
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @field_validator("oauth_algorithms")
    @classmethod
    def _check_algorithms(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in JWT_ALGORITHMS]
        if unknown:
            raise ValueError(
                f"not an asymmetric JWS algorithm: {', '.join(unknown)}; "
                f"choose from {', '.join(sorted(JWT_ALGORITHMS))}"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = check_https_url(value.rstrip("/"))
        if urlsplit(value).path:
            raise ValueError("give the origin only (https://mcp.example.com); /mcp is added to it")
        return value

    @field_validator("oauth_issuer", "oauth_jwks_uri")
    @classmethod
    def _check_oauth_url(cls, value: str | None) -> str | None:
        # The issuer is kept exactly as given: tokens' `iss` must match it character for character.
        return None if value is None else check_https_url(value)

    @field_validator("file_roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: object) -> object:
        if isinstance(value, str):
            # An empty entry would silently mean "the working directory": refuse it.
            items = [item.strip() for item in value.split(",")]
            if any(not item for item in items):
                raise ValueError("empty directory in the list; name each root explicitly")
            return [Path(item).expanduser() for item in items]
        return value

    @field_validator("file_roots")
    @classmethod
    def _check_roots_exist(cls, roots: list[Path] | None) -> list[Path] | None:
        # A typo would otherwise turn file input off for that root without a word.
        for index, root in enumerate(roots or (), start=1):
            if not root.is_dir():
                raise ValueError(
                    f"directory #{index} does not exist (or is not a directory); "
                    "create it, correct the path, or remove it from the list"
                )
        return roots

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        items = [RATE_LIMIT_ITEM.fullmatch(part) for part in RATE_LIMIT_SEPARATORS.split(value)]
        if not all(items):
            raise ValueError(
                "not a rate limit; write it like '60/minute', or several like '10/second;300/hour'"
            )
        if any(int(item.group(1)) < 1 for item in items if item):
            raise ValueError(
                "allows no calls at all, so every tool call would be refused; allow at least "
                "one call per window (e.g. 60/minute)"
            )
        return value

    @field_validator("redis_url", "cache_redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError(f"not a Redis URL; start it with {' or '.join(REDIS_SCHEMES)}")
        return value

    @field_validator("openrouter_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.max_tokens_ceiling < self.default_max_tokens:
            raise ValueError("IMAGE_MCP_MAX_TOKENS_CEILING is below IMAGE_MCP_DEFAULT_MAX_TOKENS")
        if self.cache_redis_url is not None and self.redis_url is None:
            raise ValueError(
                "IMAGE_MCP_CACHE_REDIS_URL is set without IMAGE_MCP_REDIS_URL; the cache Redis "
                "only moves the answer cache out of the shared Redis, so set both"
            )
        self._check_models_and_tokens()
        if self.transport == "http":
            self._check_http_safety()
        self._check_oauth()
        return self

    def _check_oauth(self) -> None:
        if self.oauth_issuer and not self.public_url:
            raise ValueError(
                "IMAGE_MCP_OAUTH_ISSUER is set but IMAGE_MCP_PUBLIC_URL is not; set it to the URL "
                "clients use (e.g. https://mcp.example.com): tokens are issued for it"
            )
        if not self.oauth_issuer:
            orphans = [
                f"IMAGE_MCP_{name.upper()}"
                for name in ("oauth_jwks_uri", "oauth_audience", "oauth_required_scopes")
                if getattr(self, name)
            ]
            if orphans:
                raise ValueError(
                    f"{', '.join(orphans)} set without IMAGE_MCP_OAUTH_ISSUER; set the issuer "
                    "to turn OAuth on, or remove them"
                )

    def _check_models_and_tokens(self) -> None:
        if self.allowed_models and self.default_model not in self.allowed_models:
            raise ValueError(
                "IMAGE_MCP_ALLOWED_MODELS does not include OPENROUTER_DEFAULT_MODEL, so every "
                "call without a model would be refused; add the default model to the list, or "
                "set OPENROUTER_DEFAULT_MODEL to one of the allowed models"
            )
        stray = [model for model in self.fallback_models if model not in self.allowed_models]
        if self.allowed_models and stray:
            raise ValueError(
                "IMAGE_MCP_FALLBACK_MODELS names models IMAGE_MCP_ALLOWED_MODELS does not allow "
                f"({', '.join(stray[:3])}); add them to the allowed models or remove them"
            )
        both = sorted(set(self.provider_order) & set(self.provider_ignore))
        if both:
            raise ValueError(
                "IMAGE_MCP_PROVIDER_ORDER and IMAGE_MCP_PROVIDER_IGNORE both name "
                f"{', '.join(both[:3])}; a provider cannot be preferred and skipped at once"
            )
        # Left at its default, the review length is capped by the ceiling; set, it must fit.
        review_set = "review_max_tokens" in self.model_fields_set
        if review_set and self.review_max_tokens > self.max_tokens_ceiling:
            raise ValueError(
                "IMAGE_MCP_REVIEW_MAX_TOKENS is above IMAGE_MCP_MAX_TOKENS_CEILING; lower the "
                "first or raise the second"
            )

    def _check_http_safety(self) -> None:
        authenticates = bool(self.auth_tokens or self.oauth_issuer)
        if not authenticates and not self.binds_loopback and not self.allow_unauthenticated:
            raise ValueError(
                f"IMAGE_MCP_HOST={self.host} is reachable from other machines but "
                "IMAGE_MCP_AUTH_TOKENS is empty and OAuth is off; set tokens or "
                "IMAGE_MCP_OAUTH_ISSUER, or set IMAGE_MCP_ALLOW_UNAUTHENTICATED=true if "
                "something in front already authenticates"
            )
        for root in self.file_roots or ():
            if Path(os.path.realpath(root)) == Path(root.anchor or "/") and (
                not self.allow_filesystem_root
            ):
                raise ValueError(
                    "IMAGE_MCP_FILE_ROOTS includes the filesystem root, which exposes every "
                    "readable file; name a narrower directory, or set "
                    "IMAGE_MCP_ALLOW_FILESYSTEM_ROOT=true deliberately"
                )

    # --- Derived values ---------------------------------------------------------------------
    @property
    def api_key(self) -> str | None:
        return self.openrouter_api_key.get_secret_value() if self.openrouter_api_key else None

    @property
    def effective_file_roots(self) -> tuple[Path, ...]:
        """The directories local files may be read from; empty means file input is off.

        Unset: the working directory for stdio (never `/`), nothing for http.
        """
        if self.file_roots is None:
            if self.transport != "stdio":
                return ()
            cwd = Path.cwd()
            return () if cwd == Path(cwd.anchor) and not self.allow_filesystem_root else (cwd,)
        return tuple(Path(os.path.realpath(root)) for root in self.file_roots)

    @property
    def effective_max_request_bytes(self) -> int:
        """Largest /mcp request body: room for the largest image sent inline as base64."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return self.max_image_bytes * 4 // 3 + MIB

    @property
    def prepare_memory_bytes(self) -> int:
        """Most memory one image worker process may allocate. Default: room for a full decode
        and a conversion of the largest image allowed (12 bytes per pixel), two copies of
        its bytes, and the interpreter (about 870 MiB with the defaults)."""
        if self.prepare_memory_mb is not None:
            return self.prepare_memory_mb * MIB
        return 12 * self.max_pixels + 2 * self.max_image_bytes + 256 * MIB

    @property
    def binds_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), applying explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
