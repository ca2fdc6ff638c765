"""Shared fixtures: one real stack (real MiniLM embedder, real classifier head) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from limner.safety.stack import SafetySettings, SafetyStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> SafetyStack:
    d = tmp_path_factory.mktemp("safety")
    s = SafetyStack.from_policy(settings=SafetySettings(audit_path=d / "audit.sqlite", optout_path=d / "optout.sqlite"))
    yield s
    s.close()


@pytest.fixture()
def fresh_stack(tmp_path: Path) -> SafetyStack:
    """A stack with its own audit store and registry (rules + classifier, image layers on)."""
    s = SafetyStack.from_policy(
        settings=SafetySettings(audit_path=tmp_path / "audit.sqlite", optout_path=tmp_path / "optout.sqlite")
    )
    yield s
    s.close()
