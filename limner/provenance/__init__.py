"""Provenance on every image: invisible watermark, signed C2PA manifest and a reverse-search index.

Save images only through `ProvenanceStage(settings).apply(...)`; check them with `verify(...)`.
"""

from __future__ import annotations

from limner.provenance.errors import InputImageError, ProvenanceError
from limner.provenance.settings import ProvenanceSettings
from limner.provenance.stage import GenerationInfo, ProvenancedImage, ProvenanceStage
from limner.provenance.verify import VerifyResult, verify

__all__ = ["GenerationInfo", "InputImageError", "ProvenanceError", "ProvenanceSettings", "ProvenanceStage",
           "ProvenancedImage", "VerifyResult", "verify"]
