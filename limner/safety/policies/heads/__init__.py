"""Trained classifier heads (package data)."""
