"""Where provenance keeps its state, and how it signs and indexes.

Nothing here touches the disk at import or construction; the data directory, the development CA and
the watermark key are created lazily on first use (see certs.py and keys.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

RETENTIONS = ("none", "hash", "full")


def default_data_dir() -> Path:
    """$LIMNER_HOME, else ~/.limner: the default home of the development CA, the key and the index."""
    env = os.environ.get("LIMNER_HOME")
    return Path(env).expanduser() if env else Path.home() / ".limner"


@dataclass
class ProvenanceSettings:
    """Provenance configuration.

    data_dir: holds the development CA, the watermark key and the default SQLite index.
    cert_path / key_path: a PEM certificate chain (leaf first) and its PEM private key. When both are
        None, a local development CA and leaf certificate are created in data_dir on first use; images
        signed with them validate as "valid" (untrusted) unless that CA is configured as a trust anchor.
    trust_anchors_path: PEM file of CA certificates that verify treats as trusted. None means: the
        development CA of data_dir when we are using it, otherwise no anchors.
    index_url: "sqlite:///absolute/path.db", or "postgresql://user@host:port/db". None means
        sqlite in data_dir.
    prompt_retention: "none" keeps no prompt, "hash" keeps its SHA-256 (always kept; this setting adds
        nothing), "full" keeps the prompt text too.
    watermark_key_path: 32 secret bytes that key the watermark; created in data_dir when absent.
    mark_transparent_background: True (default) marks an image with transparency as seen over white, which
        turns some fully transparent pixels into black at alpha <= ~10/255 (alpha.py), so the mark survives
        flattening (JPEG, screenshots). False keeps alpha exactly as generated and hides the mark in the
        RGB under it and in the visible pixels only: it is lost when a transparent image with little
        content is flattened.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    cert_path: Path | None = None
    key_path: Path | None = None
    trust_anchors_path: Path | None = None
    index_url: str | None = None
    prompt_retention: str = "hash"
    watermark_key_path: Path | None = None
    signing_alg: str = "es256"
    mark_transparent_background: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.prompt_retention not in RETENTIONS:
            raise ValueError(f"prompt_retention {self.prompt_retention!r} is not one of {RETENTIONS}")
        if (self.cert_path is None) != (self.key_path is None):
            raise ValueError(
                f"cert_path and key_path must be given together (cert_path={self.cert_path}, key_path={self.key_path})"
            )
        if self.index_url is not None and not self.index_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"index_url {self.index_url!r} must start with sqlite:/// or postgresql://")

    @property
    def uses_dev_ca(self) -> bool:
        """True when no certificate is configured, so signing uses the local development CA."""
        return self.cert_path is None

    @property
    def resolved_index_url(self) -> str:
        """`index_url`, or the SQLite file provenance.db in data_dir when none is set."""
        return self.index_url or f"sqlite:///{self.data_dir / 'provenance.db'}"

    @property
    def resolved_watermark_key_path(self) -> Path:
        """`watermark_key_path`, or watermark.key in data_dir when none is set."""
        return self.watermark_key_path or self.data_dir / "watermark.key"

    @property
    def dev_ca_dir(self) -> Path:
        """The directory of the development CA and its signer (data_dir/c2pa-dev)."""
        return self.data_dir / "c2pa-dev"
