"""limner: an open, self-hostable, natively multimodal image generation system."""

__version__ = "0.1.0"
