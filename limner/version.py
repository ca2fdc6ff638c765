"""The package version, apart from `limner/__init__.py` so that any layer can read it without importing
the public API (which loads the pipeline)."""

__version__ = "0.1.0"
