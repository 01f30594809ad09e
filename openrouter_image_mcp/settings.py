"""All configuration, read once from the environment and an optional `.env` file.

The environment variable names are a public interface: the README, `.env.example` and
deployments use them. OpenRouter settings use the `OPENROUTER_` prefix, everything else
`IMAGE_MCP_`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


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
        default="https://github.com/openrouter-image-mcp/openrouter-image-mcp",
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
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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

    # --- Image preparation ------------------------------------------------------------------
    max_edge: int | None = Field(default=None, ge=16)
    pixel_budget: int | None = Field(default=None, ge=256)
    jpeg_quality: int = Field(default=85, ge=30, le=100)
    image_workers: int = Field(default=2, ge=1, le=64)

    # --- Cost control -----------------------------------------------------------------------
    rate_limit: str = "60/minute"
    max_concurrency: int = Field(default=16, ge=1)
    queue_timeout_s: float = Field(default=30.0, gt=0)
    budget_usd_per_day: float | None = Field(default=None, gt=0)
    global_budget_usd_per_day: float | None = Field(default=None, gt=0)
    cache_ttl_s: int = Field(default=3600, ge=0)
    cache_max_entries: int = Field(default=1024, ge=1)
    cache_max_bytes: int = Field(default=64 * MIB, ge=1024)
    redis_url: SecretStr | None = None

    _split = field_validator(
        "allowed_models", "allowed_origins", "allowed_hosts", "blocked_hosts", mode="before"
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
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                "not a rate limit; write it like '60/minute', or several like '10/second;300/hour'"
            ) from None
        return value

    @field_validator("redis_url")
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
        if self.transport == "http":
            self._check_http_safety()
        return self

    def _check_http_safety(self) -> None:
        if not self.auth_tokens and not self.binds_loopback and not self.allow_unauthenticated:
            raise ValueError(
                f"IMAGE_MCP_HOST={self.host} is reachable from other machines but "
                "IMAGE_MCP_AUTH_TOKENS is empty; set tokens, or set "
                "IMAGE_MCP_ALLOW_UNAUTHENTICATED=true if something in front already authenticates"
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
    def binds_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), applying explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
