"""Runtime settings: environment variables with the ``MAGHUB_`` prefix, overridden by CLI flags."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from maghub.graphs.definition.config import MAX_PARALLEL_NODES_LIMIT
from maghub.security.origins import host_name, is_loopback_name, normalize_allowed_host

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

MIN_JWT_SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAGHUB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("~/.maghub")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file in the data dir. "
        "PostgreSQL: postgresql+asyncpg://user:password@host:5432/dbname",
    )
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins (besides maghub's own and, in local mode, any loopback origin) "
        "allowed to call the API.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Names (besides loopback names and the listen address) that requests may address "
        "maghub by in their Host header; '.example.com' allows a domain and its subdomains.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts stored secrets (a Fernet key). Default: generated once into the data dir.",
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    max_parallel_nodes: int = Field(
        default=64,
        ge=1,
        le=MAX_PARALLEL_NODES_LIMIT,
        description="At most this many nodes of one graph run at once (a graph's max_parallel_nodes may lower "
        "it). Each model's max_concurrency is what protects a provider's rate limit.",
    )
    mcp_apply_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long POST /mcp/config and /mcp/add wait for new servers to connect before answering.",
    )
    tool_install_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Time limit for making an AI-generated MCP tool's virtual environment and installing "
        "its dependencies (POST /mcp/register-tool, the finish of POST /mcp/generate).",
    )
    sse_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How long an SSE stream (chat, graph runs, generation) may stay quiet before maghub "
        "sends a keep-alive comment line.",
    )
    tool_result_max_chars: int = Field(
        default=100_000,
        ge=1000,
        description="The most characters of one tool result an LLM reads; longer results are cut, with a note.",
    )
    demo: bool = False
    auth_enabled: bool = Field(
        default=False,
        description="Require a JWT on every route (and the admin role for routes that start processes). "
        "Needed to listen on a non-loopback address.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret (32+ bytes). Default: generated once into the data dir."
    )
    jwt_lifetime_minutes: int = Field(default=720, ge=1, le=60 * 24 * 30)
    metrics_public: bool = Field(
        default=False,
        description="Serve /metrics without a token in auth mode (for a Prometheus that scrapes without "
        "one; keep the port private). Local mode serves it openly anyway.",
    )

    @field_validator("jwt_secret", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_JWT_SECRET_BYTES} bytes; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError(
                "'*' is not allowed: list the exact origins of your front end, e.g. https://app.example.com"
            )
        return value

    @field_validator("allowed_hosts", mode="after")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        return [normalize_allowed_host(entry) for entry in value]

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'maghub.db'}"

    @property
    def secret_key_value(self) -> str | None:
        return self.secret_key.get_secret_value() if self.secret_key else None

    @property
    def jwt_secret_value(self) -> str | None:
        return self.jwt_secret.get_secret_value() if self.jwt_secret else None

    @property
    def is_loopback_host(self) -> bool:
        return is_loopback_name(host_name(self.host))
