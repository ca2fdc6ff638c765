"""The web chat UI (package data)."""
