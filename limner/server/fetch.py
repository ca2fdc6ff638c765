"""Fetch an image a request names by http(s) URL, guarded against server-side request forgery.

A client may name an input image by URL (`images[].image_url` on edits, `input_image.image_url` on
Responses), as OpenAI allows. Fetching it from the server must not let a caller reach what only the server
can: its loopback, the private network it sits in, or a cloud metadata endpoint. So:

- only `http` and `https`, on any port, with no credentials in the URL;
- the host is resolved once per connection and *every* address it resolves to must be public (not private,
  loopback, link-local, multicast, reserved or unspecified, IPv4-mapped IPv6 included); the socket then
  connects to that checked address, so a DNS answer that changes between check and connect (rebinding)
  cannot slip through. TLS still verifies the certificate against the host name;
- redirects are followed by hand, at most MAX_REDIRECTS, each new location checked the same way;
- the body is read in chunks and refused past `max_bytes`; the whole fetch has a deadline.

Failures raise FetchError with a message that names the URL's problem, never the server's internals.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

MAX_REDIRECTS = 3
USER_AGENT = "limner-image-fetch/1"


class FetchError(ValueError):
    """The URL could not be fetched as an image input; the message is safe to show the caller."""


def public_address(ip: str) -> bool:
    """Whether `ip` is a globally routable unicast address (an IPv4-mapped IPv6 address is judged as IPv4)."""
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.is_site_local:  # fec0::/10, deprecated but still routed inside some networks
            return False
        # an IPv4 address carried inside IPv6 (mapped, 6to4, Teredo's client) is judged as that IPv4 address
        inner = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if inner is not None:
            addr = inner
    return not (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_reserved
                or addr.is_unspecified or not addr.is_global)


def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, or FetchError when it resolves to none or to any non-public one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(f"the host {host!r} could not be resolved") from e
    ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not ips:
        raise FetchError(f"the host {host!r} could not be resolved")
    if not allow_private:
        bad = [ip for ip in ips if not public_address(ip)]
        if bad:
            raise FetchError(f"the host {host!r} resolves to a private, loopback or link-local address; limner "
                             "fetches images only from public addresses")
    return ips


def _left(deadline: float, timeout: float | None) -> float:
    """Seconds an I/O step may take: its own timeout, but never past the fetch's deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the fetch's deadline passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write ends by one absolute deadline, so a server that drips a
    byte at a time (headers included) cannot hold the fetch past it."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner, self.deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read within the deadline."""
        return self.inner.read(max_bytes, _left(self.deadline, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write within the deadline."""
        self.inner.write(buffer, _left(self.deadline, timeout))

    def close(self) -> None:
        """Close the socket."""
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        """The TLS stream, verified against `server_hostname` (the URL's host), under the same deadline."""
        return DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, _left(self.deadline, timeout)),
                              self.deadline)

    def get_extra_info(self, info: str) -> Any:
        """As the wrapped stream answers it."""
        return self.inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to the addresses `checked_addresses` accepts, every step
    bounded by `deadline` (time.monotonic())."""

    def __init__(self, allow_private: bool, deadline: float) -> None:
        self.allow_private = allow_private
        self.deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        """A socket to one of `host`'s checked addresses (FetchError when none is allowed or reachable)."""
        last: Exception | None = None
        for ip in checked_addresses(host, port, self.allow_private):  # connect to what was checked, not a re-resolve
            try:
                stream = super().connect_tcp(ip, port, _left(self.deadline, timeout), local_address, socket_options)
                return DeadlineStream(stream, self.deadline)
            except httpcore.ConnectError as e:
                last = e
        raise FetchError(f"could not connect to {host!r}") from last


def _check_url(url: str) -> str:
    """The URL if it is absolute http(s) with a host, a valid port and no credentials; else FetchError."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a port outside 0..65535
    except ValueError as e:  # "http://[::1/", "http://h:99999/"
        raise FetchError(f"the URL is malformed ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http(s) URLs (or data URLs) are fetched, not {parts.scheme or 'a relative URL'!r}")
    if not host:
        raise FetchError("the URL has no host")
    if parts.username or parts.password:
        raise FetchError("URLs with credentials are not fetched")
    if not url.isascii():
        raise FetchError("the URL must be ASCII (percent-encode it, and give an IDN host in its xn-- form)")
    return url


def fetch_url(url: str, *, max_bytes: int, timeout_s: float, allow_private: bool = False) -> bytes:
    """The body of GET `url` (following up to MAX_REDIRECTS redirects); FetchError on any refusal or failure."""
    deadline = time.monotonic() + timeout_s
    with httpcore.ConnectionPool(network_backend=GuardedBackend(allow_private, deadline), retries=0) as pool:
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(url)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"fetching the image took longer than {timeout_s:g} s")
            try:
                with pool.stream("GET", url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
                                 extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), left)}
                                 ) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = dict((k.lower(), v) for k, v in resp.headers).get(b"location")
                        if not location:
                            raise FetchError(f"the server answered {resp.status} with no Location")
                        url = urljoin(url, location.decode("latin-1"))
                        continue
                    if resp.status != 200:
                        raise FetchError(f"the server answered HTTP {resp.status}")
                    return _read_bounded(resp.iter_stream(), max_bytes, deadline, timeout_s)
            except httpcore.TimeoutException as e:
                raise FetchError(f"fetching the image took longer than {timeout_s:g} s") from e
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as e:
                raise FetchError(f"the image could not be fetched ({type(e).__name__})") from e
            except FetchError:
                raise
            except (ValueError, TypeError, UnicodeError) as e:  # a URL or header httpcore cannot use
                raise FetchError(f"the image could not be fetched ({type(e).__name__}: {e})"[:300]) from e
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _read_bounded(chunks: Iterable[bytes], max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    """The whole body, or FetchError once it passes `max_bytes` or the deadline."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"the image is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError(f"fetching the image took longer than {timeout_s:g} s")
    return bytes(body)
