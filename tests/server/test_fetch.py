"""The SSRF-guarded image fetch: a real HTTP server on loopback, reachable only when private addresses are
allowed, with redirects, size and time limits."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from limner.server.fetch import FetchError, checked_addresses, fetch_url, public_address
from tests.local_http import QuietHandler, serving

BODY = b"\x89PNG fake image bytes"


class Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/img":
            self.send(200, BODY)
        elif self.path == "/big":
            self.send(200, b"x" * 50_000)
        elif self.path == "/slow":
            time.sleep(2)
            self.send(200, BODY)
        elif self.path == "/drip":  # headers a byte at a time: each read is quick, the whole is not
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pad: " + b"a" * 40:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        else:
            self.send(404, b"no")


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with serving(Handler) as url:
        yield url


@pytest.mark.parametrize("ip,public", [("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False),
                                       ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
                                       ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
                                       ("::1", False), ("fe80::1", False), ("fd00::1", False),
                                       ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
                                       ("2002:7f00:1::", False), ("2002:808:808::", True), ("fec0::1", False)])
def test_public_address(ip: str, public: bool) -> None:
    assert public_address(ip) is public


def test_the_guard_refuses_private_hosts_and_bad_urls(origin: str) -> None:
    for url, words in ((f"{origin}/img", "private, loopback or link-local"),
                       ("http://localhost/", "private, loopback or link-local"),
                       ("http://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
                       ("file:///etc/passwd", "only http(s)"), ("gopher://x/", "only http(s)"),
                       ("http://user:pw@8.8.8.8/", "credentials"), ("http:///nohost", "no host"),
                       ("http://no-such-host.invalid/", "could not be resolved"),
                       ("http://[::1/", "malformed"), ("http://h:99999/", "malformed"),
                       ("http://exämple.com/", "ASCII"),
                       ("http://[2002:7f00:1::]/", "private, loopback"), ("http://[fec0::1]/", "private, loopback")):
        with pytest.raises(FetchError, match=words.replace("(", r"\(").replace(")", r"\)")):
            fetch_url(url, max_bytes=1000, timeout_s=5)
    with pytest.raises(FetchError):
        checked_addresses("localhost", 80, allow_private=False)
    assert checked_addresses("localhost", 80, allow_private=True)


def test_fetch_follows_redirects_within_limits(origin: str) -> None:
    """Allowed to reach private addresses (an operator's opt-in), the same code fetches, follows a redirect,
    and stops at the size, time and redirect limits."""
    assert fetch_url(f"{origin}/img", max_bytes=1000, timeout_s=5, allow_private=True) == BODY
    assert fetch_url(f"{origin}/redirect", max_bytes=1000, timeout_s=5, allow_private=True) == BODY
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        fetch_url(f"{origin}/big", max_bytes=1000, timeout_s=5, allow_private=True)
    with pytest.raises(FetchError, match="longer than 0.5 s"):
        fetch_url(f"{origin}/slow", max_bytes=1000, timeout_s=0.5, allow_private=True)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="longer than 1 s"):
        fetch_url(f"{origin}/drip", max_bytes=1000, timeout_s=1, allow_private=True)
    assert time.monotonic() - t0 < 2.0  # one deadline for the whole fetch, not one per read
    with pytest.raises(FetchError, match="redirects"):
        fetch_url(f"{origin}/loop", max_bytes=1000, timeout_s=5, allow_private=True)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_url(f"{origin}/missing", max_bytes=1000, timeout_s=5, allow_private=True)
