"""Shipped safety policies (package data)."""
