"""Server settings (pydantic-settings): defaults, overridden by `LIMNER_*` environment variables, overridden by
CLI flags."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# PostgreSQL URLs (psycopg 3 is the driver whichever is written); anything else names a SQLite file
DATABASE_URL_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_database_url(target: str | Path) -> bool:
    """Whether `target` is a PostgreSQL URL rather than a SQLite file path."""
    return str(target).startswith(DATABASE_URL_SCHEMES)


def default_data_dir() -> Path:
    """$LIMNER_DATA_DIR, else a per-user directory under $LIMNER_HOME (default ~/.limner)."""
    env = os.environ.get("LIMNER_DATA_DIR")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("LIMNER_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".limner") / "server"


def is_loopback(host: str) -> bool:
    """Whether `host` is "localhost" or a loopback IP address; a server listening there needs no keys by default."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# OpenAI's image model names, all answered by the loaded model (clients send these by default: LangChain's
# DallEAPIWrapper `dall-e-2`, most UIs `dall-e-3` or `gpt-image-1`). $LIMNER_MODEL_ALIASES (comma-separated)
# replaces the list; `/v1/models` lists it.
DEFAULT_IMAGE_MODEL_ALIASES: tuple[str, ...] = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2",
                                                "dall-e-2", "dall-e-3")


def split_aliases(value: object) -> object:
    """`LIMNER_MODEL_ALIASES` (comma-separated names) as a tuple; other values as given."""
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(",") if a.strip())
    return value


class ServerSettings(BaseSettings):
    """The API server's configuration: defaults, then `LIMNER_<FIELD>` environment variables (for example
    `LIMNER_DATABASE_URL`, `LIMNER_MAX_QUEUE`, `LIMNER_MODEL_ALIASES=a,b`), then explicit arguments (the CLI's
    flags). Inconsistent values raise pydantic's ValidationError, a ValueError that names the field."""

    model_config = SettingsConfigDict(env_prefix="LIMNER_", extra="forbid", validate_assignment=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    checkpoint: str | None = None  # None: the shipped model
    data_dir: Path = Field(default_factory=default_data_dir)
    # a postgresql:// URL puts history, keys and jobs there (several API processes can share it); None: SQLite
    database_url: str | None = None
    safety: bool = True
    policy: str | None = None  # safety policy file (None: the default policy)
    max_concurrency: int = Field(default=1, ge=1, le=64)  # jobs running at once; a CPU engine gains nothing more
    max_queue: int = Field(default=16, ge=0, le=100_000)  # jobs waiting beyond those running; more answer 429
    retry_after_s: int = Field(default=2, ge=1)  # the Retry-After a 429 suggests
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)  # OpenAI's own limit for image uploads is 50 MB
    torch_threads: int = Field(default=0, ge=0)  # 0: leave torch's default
    device: str = "cpu"  # where the model runs (a torch device name, resolved by the entry point)
    warm: bool = True  # load lazy safety models at start-up so the first request is not slow
    external_workers: bool = False  # jobs run on `limner worker` processes sharing the PostgreSQL database
    require_keys: bool | None = None  # None: keys are optional on loopback, required on any other address
    # image model names answered by the loaded model, besides `limner` and the checkpoint's own id
    model_aliases: Annotated[tuple[str, ...], NoDecode] = DEFAULT_IMAGE_MODEL_ALIASES
    # input images named by http(s) URL (limner.server.fetch): size and time limits, and whether private,
    # loopback and link-local addresses may be fetched (off: a caller must not reach the server's own network)
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    fetch_timeout_s: float = Field(default=10.0, gt=0, le=120)
    fetch_allow_private: bool = False

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _aliases(cls, value: object) -> object:
        return split_aliases(value)

    @field_validator("database_url", "checkpoint", "policy", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `LIMNER_DATABASE_URL=` means "not set"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _consistent(self) -> ServerSettings:
        if self.database_url is not None and not is_database_url(self.database_url):
            shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", self.database_url)  # never echo a password
            raise ValueError(f"database URL {shown!r} is not a postgresql:// URL")
        if self.require_keys is False and not is_loopback(self.host):
            raise ValueError(f"keys cannot be turned off on {self.host!r}: without them anyone who reaches "
                             "the address could use the server (listen on 127.0.0.1, or create keys)")
        if self.external_workers and self.database_url is None:
            raise ValueError("external workers share the queue through PostgreSQL: give a database URL")
        return self

    @property
    def local_mode(self) -> bool:
        """Whether requests without a key are served as the local user: `require_keys` decides,
        else only when the server listens on a loopback address."""
        return not self.require_keys if self.require_keys is not None else is_loopback(self.host)

    @property
    def db_path(self) -> Path:
        """The SQLite database file in data_dir, used when no database URL is set."""
        return self.data_dir / "limner.sqlite3"

    @property
    def database(self) -> str | Path:
        """Where the store lives: the PostgreSQL URL when one is set, else `db_path`."""
        return self.database_url or self.db_path

    @property
    def node(self) -> str:
        """This API process's name in the jobs table: host and data directory, so that a restart of the same
        process reclaims its jobs while other processes sharing a PostgreSQL database keep theirs."""
        import socket

        return f"{socket.gethostname()}:{self.data_dir.resolve()}"


def load_settings(**given: Any) -> ServerSettings:
    """ServerSettings from the environment and `given` (None values left out, so a flag not passed leaves
    the environment's value); a bad value raises ValueError with one line per problem, naming the field."""
    try:
        return ServerSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {msg} (got {err['input']!r})" if where else msg)
        raise ValueError("; ".join(lines)) from None
