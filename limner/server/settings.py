"""Server settings: defaults, overridden by `LIMNER_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

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


def env_aliases() -> tuple[str, ...]:
    """$LIMNER_MODEL_ALIASES as a tuple of names, else DEFAULT_IMAGE_MODEL_ALIASES."""
    env = os.environ.get("LIMNER_MODEL_ALIASES")
    if env is None:
        return DEFAULT_IMAGE_MODEL_ALIASES
    return tuple(a.strip() for a in env.split(",") if a.strip())


@dataclass
class ServerSettings:
    """The API server's configuration; `__post_init__` refuses inconsistent values with ValueError."""

    host: str = "127.0.0.1"
    port: int = 8000
    checkpoint: str | None = None  # None: $LIMNER_CHECKPOINT, else the shipped model
    data_dir: Path = field(default_factory=default_data_dir)
    # a postgresql:// URL puts history, keys and jobs there (several API processes can share it); None: SQLite
    database_url: str | None = field(default_factory=lambda: os.environ.get("LIMNER_DATABASE_URL") or None)
    safety: bool = True
    policy: str | None = None  # safety policy file (None: the default policy)
    max_concurrency: int = 1  # jobs running at once; a CPU engine gains nothing from more
    max_queue: int = 16  # jobs waiting beyond those running; more answer 429
    retry_after_s: int = 2  # the Retry-After a 429 suggests
    max_body_bytes: int = 50 * 1024 * 1024  # OpenAI's own limit for image uploads is 50 MB per file
    torch_threads: int = 0  # 0: leave torch's default
    device: str = "cpu"  # where the model runs (a torch device name, resolved by the entry point)
    warm: bool = True  # load lazy safety models at start-up so the first request is not slow
    external_workers: bool = False  # jobs run on `limner worker` processes sharing the PostgreSQL database
    require_keys: bool | None = None  # None: keys are optional on loopback, required on any other address
    # image model names answered by the loaded model, besides `limner` and the checkpoint's own id
    model_aliases: tuple[str, ...] = field(default_factory=env_aliases)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if not 1 <= self.max_concurrency <= 64:
            raise ValueError(f"max_concurrency must be within 1..64, got {self.max_concurrency}")
        if not 0 <= self.max_queue <= 100_000:
            raise ValueError(f"max_queue must be within 0..100000, got {self.max_queue}")
        if self.database_url is not None and not is_database_url(self.database_url):
            raise ValueError(f"database URL {self.database_url!r} is not a postgresql:// URL")
        if self.external_workers and self.database_url is None:
            raise ValueError("external workers share the queue through PostgreSQL: give a database URL")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")

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
