"""Provenance errors. Each message names the value, file or store at fault."""

from __future__ import annotations


class ProvenanceError(Exception):
    """Provenance could not be applied; no image is returned (never an unmarked or unsigned one)."""


class InputImageError(ProvenanceError):
    """An image given to the stage or to verify cannot be used (truncated, not an image, too large...)."""


class DamagedImageError(InputImageError):
    """The header parsed but the pixel data did not decode (truncated or tampered); the file's
    metadata, such as its C2PA manifest, can still be read."""
