"""Settings: a TOML file plus ``MJBOT_…`` environment overrides (pydantic-settings).

``MJBOT_DISCORD_TOKEN`` sets ``[discord] token``, ``MJBOT_STORE_PATH`` sets ``[store] path`` and so
on: the first underscore after the prefix separates the section from the key.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.backends import check_options
from bot.domain import BackendKind
from bot.net import AddressPolicy
from bot.shards import parse_shards


class DiscordSettings(BaseModel):
    token: SecretStr | None = None
    #: Sync slash commands to this guild only at start-up (instant, for development).
    dev_guild_id: int | None = None
    #: Gateway shards in all (None: Discord's recommendation). docs/scaling.md.
    shard_count: int | None = Field(default=None, ge=1)
    #: The shard ids this process runs, e.g. "0-3" or "0,2,5-6" (None: all of them); needs
    #: shard_count, so that the processes sharing one store agree on who owns a guild.
    shards: str | None = None

    @field_validator("token", "shards", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _shards_within_count(self) -> DiscordSettings:
        ids = self.shard_ids
        if ids is not None:
            if self.shard_count is None:
                raise ValueError("shards needs shard_count (every process must use the same count)")
            if ids[-1] >= self.shard_count:
                raise ValueError(f"shard ids run from 0 to shard_count - 1 ({self.shard_count - 1})")
        return self

    @property
    def shard_ids(self) -> list[int] | None:
        """The shard ids this process runs, or None for all of them."""
        return parse_shards(self.shards) if self.shards is not None else None


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def postgres_where(url: str) -> str:
    """A ``postgresql://`` URL as messages name it: without its user and password."""
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


class StoreSettings(BaseModel):
    path: Path = Path("data/mjbot.sqlite3")
    #: ``postgresql://user:password@host:port/database``: the PostgreSQL store instead of the
    #: SQLite file ``path`` (docs/scaling.md).
    url: SecretStr | None = None
    #: Fernet key sealing account secrets in the database. Empty: a key file beside ``path``.
    secret_key: SecretStr | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _postgres_only(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if not is_postgres_url(text):
            raise ValueError("must start with postgresql:// (SQLite is [store] path)")
        return value

    @property
    def key_file(self) -> Path:
        return self.path.parent / "mjbot-secret.key"

    @property
    def database(self) -> str:
        """The database to open: the PostgreSQL URL, else the SQLite file."""
        return self.url.get_secret_value() if self.url else str(self.path)

    @property
    def where(self) -> str:
        """The database as messages name it (a URL without its user and password)."""
        return postgres_where(self.url.get_secret_value()) if self.url else str(self.path)


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    #: 0 picks a free port (used by the sandbox and the tests).
    port: int = Field(default=8080, ge=0, le=65535)
    #: The URL backends use to reach this server. Defaults to http://host:port.
    public_url: str | None = None
    #: Vary (Region) opens a drawing editor served here (docs/mask-editor.md). None: on when
    #: public_url is set, since members' browsers must reach the page.
    mask_editor: bool | None = None

    @property
    def mask_editor_on(self) -> bool:
        return self.mask_editor if self.mask_editor is not None else bool(self.public_url)

    #: Connections open at once; more are answered 503 and closed (keep it under the fd limit).
    max_connections: int = Field(default=100, ge=1)
    #: Longest wait for a request's headers (an idle connection is closed then) and for its body.
    idle_timeout_seconds: float = Field(default=5.0, gt=0)


class NetworkSettings(BaseModel):
    """Where accounts added with /setup (by server admins, not the operator) may point."""

    #: True: anywhere, the bot's own machine and private network included.
    allow_private_backends: bool = False
    #: Private networks they may reach all the same, e.g. ["127.0.0.1/32"] for a proxy beside the bot.
    private_backend_networks: list[str] = Field(default_factory=list)

    @field_validator("private_backend_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError: "… does not appear to be…"
        return value

    def policy(self) -> AddressPolicy | None:
        """The rule for admins' accounts; None when they may go anywhere."""
        if self.allow_private_backends:
            return None
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in self.private_backend_networks)
        return AddressPolicy(networks=networks)


class LogSettings(BaseModel):
    #: "text" (one readable line per record) or "json" (one JSON object per line).
    format: Literal["text", "json"] = "text"


class JobSettings(BaseModel):
    #: A running job that has not finished after this long fails with a timeout.
    timeout_seconds: float = Field(default=900.0, gt=0)
    #: How often a job with no webhook news is fetched from its backend.
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    #: The least time between two progress edits of one job message.
    progress_edit_seconds: float = Field(default=3.0, ge=0)
    #: How long an account that said its queue is full rests before a retry (jittered ±25 %).
    queue_full_retry_seconds: float = Field(default=5.0, gt=0)


class AccountSettings(BaseModel):
    guild_id: int
    name: str = Field(min_length=1, max_length=64)
    kind: BackendKind
    base_url: str
    secret: SecretStr = SecretStr("")
    max_jobs: int = Field(default=3, ge=1, le=15)
    channel_id: int | None = None
    #: Backend-specific settings, e.g. ``flavour = "csharp"`` for midjourney-proxy.
    options: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_options(self) -> AccountSettings:
        check_options(self.kind, self.options)  # ValueError: the sentence names the allowed keys
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MJBOT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    accounts: list[AccountSettings] = Field(default_factory=list)

    #: Set by :func:`load_settings` before validation; a class attribute because
    #: pydantic-settings builds its sources from the class.
    _toml_path: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)


class ConfigError(Exception):
    """The config file is missing or invalid; the message says which key and why."""


class StartupError(Exception):
    """The bot cannot start (its database, key file or port cannot be used); the message is one
    sentence naming the cause and what to do, for `mjbot` to print before it exits."""


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (if given) and the environment. Raises ConfigError with a readable message."""
    from pydantic import ValidationError

    if path is not None and not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Copy config.example.toml and edit it.")
    Settings._toml_path = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        where = f"in {path}" if path else "in the environment"
        raise ConfigError(f"Invalid settings {where}:\n" + "\n".join(lines)) from None
    finally:
        Settings._toml_path = None
