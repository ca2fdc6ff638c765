"""Server settings from pydantic-settings: defaults, LIMNER_* environment variables, explicit values on top,
and refusals that name the field."""

from __future__ import annotations

import pytest

from limner.server.settings import DEFAULT_IMAGE_MODEL_ALIASES, load_settings


def test_environment_then_explicit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMNER_MAX_QUEUE", "5")
    monkeypatch.setenv("LIMNER_MODEL_ALIASES", "dall-e-3, gpt-image-1")
    monkeypatch.setenv("LIMNER_DATABASE_URL", "")
    s = load_settings(port=9001, max_queue=None)  # None: not given, so the environment's value stands
    assert (s.port, s.max_queue, s.model_aliases, s.database_url) == (9001, 5, ("dall-e-3", "gpt-image-1"), None)
    assert load_settings(max_queue=7).max_queue == 7  # a value given explicitly (a CLI flag) wins
    monkeypatch.delenv("LIMNER_MODEL_ALIASES")
    assert load_settings().model_aliases == DEFAULT_IMAGE_MODEL_ALIASES


@pytest.mark.parametrize(("given", "words"), [
    ({"port": 70000}, "port: Input should be less than or equal to 65535"),
    ({"max_queue": -1}, "max_queue"),
    ({"database_url": "mysql://u:s3cret@h/db"}, "'mysql://u:***@h/db' is not a postgresql:// URL"),
    ({"external_workers": True}, "give a database URL"),
    ({"require_keys": False, "host": "0.0.0.0"}, "keys cannot be turned off on '0.0.0.0'"),
])
def test_bad_values_name_the_field(given: dict, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIMNER_DATABASE_URL", raising=False)
    with pytest.raises(ValueError) as e:
        load_settings(**given)
    assert words in str(e.value) and "s3cret" not in str(e.value)
