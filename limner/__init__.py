"""limner: an open, self-hostable, natively multimodal image generation system.

    from limner import Pipeline
    pipe = Pipeline.from_pretrained()            # the shipped model, safety stack and provenance
    result = pipe("a red star above a blue ring", n=2, seed=1)
    result.images[0].image.save("star.png")      # PIL images, each with its provenance record
    limner.verify(result.images[0].data)         # where, and when, an image came from this system

Nothing heavy is imported here: `Pipeline` and `verify` load on first use (importing torch, the
safety models and the provenance SDK takes seconds; `limner --help` should not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from limner.version import __version__

__all__ = ["Pipeline", "PipelineResult", "InvalidRequest", "SafetyBlocked", "LimnerError", "verify",
           "__version__"]

if TYPE_CHECKING:
    from limner.errors import InvalidRequest, LimnerError, SafetyBlocked
    from limner.pipeline import Pipeline, PipelineResult
    from limner.provenance.verify import verify


def __getattr__(name: str) -> Any:
    """Lazy public names (PEP 562)."""
    if name in ("Pipeline", "PipelineResult"):
        from limner import pipeline

        return getattr(pipeline, name)
    if name in ("InvalidRequest", "SafetyBlocked", "LimnerError"):
        from limner import errors

        return getattr(errors, name)
    if name == "verify":
        from limner.provenance.verify import verify

        return verify
    raise AttributeError(f"module 'limner' has no attribute {name!r}")
