"""Signed image URLs: they name one image of one tenant, and expire."""

from pathlib import Path

import pytest

from limner.server.errors import APIError
from limner.server.signed_urls import URL_TTL_S, check_signed, signature, signed_path, url_secret


def test_a_signed_path_checks_out_until_it_expires() -> None:
    secret = b"s" * 32
    path = signed_path(secret, "image_abc", "key_1", "jpeg", now=1000.0)
    assert path.startswith("/v1/limner/images/image_abc/file.jpg?owner=key_1&expires=")
    expires = 1000 + URL_TTL_S
    sig = signature(secret, "image_abc", "key_1", expires)
    assert f"sig={sig}" in path
    check_signed(secret, "image_abc", "key_1", expires, sig, now=expires)  # valid to the last second
    with pytest.raises(APIError) as e:
        check_signed(secret, "image_abc", "key_1", expires, sig, now=expires + 1)
    assert e.value.status == 410
    for image_id, owner, exp, key in (("image_abd", "key_1", expires, secret), ("image_abc", "key_2", expires, secret),
                                      ("image_abc", "key_1", expires + 60, secret),
                                      ("image_abc", "key_1", expires, b"t" * 32)):
        with pytest.raises(APIError) as e:
            check_signed(key, image_id, owner, exp, sig, now=1000.0)
        assert e.value.status == 403
    with pytest.raises(APIError) as e:  # whatever a URL carries is a 403, never a crash
        check_signed(secret, "\u169b\u1684", "", -93632, "\x82S\xb3", now=1000.0)
    assert e.value.status == 403


def test_the_secret_is_made_once_and_kept_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIMNER_URL_SECRET", raising=False)
    a = url_secret(str(tmp_path))
    assert len(a) == 32 and (tmp_path / "url_secret").stat().st_mode & 0o077 == 0
    url_secret.cache_clear()
    assert url_secret(str(tmp_path)) == a  # the file outlives the process
    url_secret.cache_clear()
    monkeypatch.setenv("LIMNER_URL_SECRET", "shared-by-every-api-process")
    assert url_secret(str(tmp_path)) == b"shared-by-every-api-process"
    url_secret.cache_clear()
