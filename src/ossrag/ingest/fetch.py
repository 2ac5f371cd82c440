"""Download one URL for ingestion without letting it reach what it must not.

    from ossrag.config import IngestLimits
    from ossrag.ingest.fetch import fetch

    data, media = fetch("https://example.org/docs.zip", IngestLimits())  # raises SourceError
    fetch("http://169.254.169.254/latest/meta-data/", IngestLimits())
    # SourceError: refused http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a
    #   cloud metadata address (hint: ... --allow-private-urls ...)

A URL given to ``ossrag ingest`` or posted to the server's ``/v1/ingest`` is
untrusted: it could point ossrag at the machine it runs on, the local network
or a cloud metadata service and then index (and serve) what it finds there.
So, unless the limits allow it (``allow_private_urls``, ``allow_url_networks``):

* **Every address is public.**  A host's addresses must all be global unicast
  (not loopback, private, link-local, unique-local, shared, reserved,
  multicast, unspecified or a metadata address); IPv4 inside IPv6 (mapped,
  6to4, Teredo, NAT64) is judged by the IPv4 address.  Spellings such as
  ``127.1``, ``2130706433``, ``0x7f.0.0.1`` or ``localhost.`` resolve to what
  they are and are refused for it.
* **Resolved once, connected to that address.**  The check runs inside the
  connection itself: a custom httpcore network backend resolves the host,
  checks every address, connects to the checked IP and then checks the peer
  of the connected socket.  The URL keeps its host name, so the ``Host``
  header, TLS SNI and the certificate check use the name.  There is no second
  DNS lookup a rebinding server could answer differently.
* **Every redirect is checked** the same way (followed here, at most
  :data:`MAX_REDIRECTS`, http(s) only): a public page cannot bounce ossrag
  to ``http://127.0.0.1:8080/admin``.
* **No proxies from the environment**: a proxy would resolve and connect on
  ossrag's behalf, to addresses it cannot check.  Behind a proxy, download the
  file yourself and ingest the local path.
* **Size and time are bounded**: ``Content-Length`` over ``max_download_bytes``
  is refused before the body is read, and the streamed body is cut at the
  limit; ``url_timeout`` bounds connecting and each read, ``url_total_timeout``
  the whole download (checked between reads, so it ends at most one read
  timeout late).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from ..config import IngestLimits
from ..errors import SourceError

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_REDIRECTS", "RefusedAddress", "address_problem", "fetch", "resolve"]

MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: the classic SSRF target (credentials of the machine's role).
_METADATA = {
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
    )
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ALLOW_HINT = (
    "pass --allow-private-urls (or --allow-url-network CIDR; settings allow_private_urls, "
    "allow_url_networks) if you trust it"
)
_NET_HINT = (
    "check the URL and your network; you can also download the file and ingest the local path"
)


class RefusedAddress(Exception):
    """A host resolved to (or a socket reached) an address the limits do not allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo client, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` not a public address, or None when it is one."""
    if ip in _METADATA:
        return "a cloud metadata address"
    checks = (
        (ip.is_unspecified, "an unspecified address (it reaches this machine)"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((what for hit, what in checks if hit), None)


def _why(addr: IPAddress, limits: IngestLimits) -> str | None:
    """What ``addr`` is when ``limits`` refuse it (``"a loopback address"``), else None."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        addr = ipaddress.IPv6Address(str(addr).split("%")[0])
    # An IPv6 address that carries an IPv4 one is judged by the IPv4 one first.
    candidates = [v4 for v4 in (_embedded_v4(addr),) if v4 is not None] + [addr]
    if limits.allow_private_urls:
        return None
    nets = [ipaddress.ip_network(n) for n in limits.allow_url_networks]
    for cand in candidates:
        if any(cand.version == net.version and cand in net for net in nets):
            return None
    for cand in candidates:
        kind = _kind(cand)
        if kind:
            return kind if cand == addr else f"{kind} (it stands for {cand})"
    return None


def address_problem(ip: str | IPAddress, limits: IngestLimits) -> str | None:
    """Why ``limits`` do not allow connecting to ``ip`` (a sentence), or None when they do.

    >>> address_problem("::ffff:127.0.0.1", IngestLimits())
    '::ffff:127.0.0.1 is a loopback address (it stands for 127.0.0.1)'
    >>> address_problem("10.1.2.3", IngestLimits(allow_url_networks=("10.0.0.0/8",))) is None
    True
    """
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    why = _why(addr, limits)
    return f"{addr} is {why}" if why else None


def resolve(host: str, port: int, limits: IngestLimits) -> list[str]:
    """Every address ``host`` resolves to, all allowed by ``limits``; raises RefusedAddress.

    One lookup, whose answer is what gets connected to (see the module docstring).
    A name with one refused address among public ones is refused as a whole.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for addr in addresses:
        why = _why(ipaddress.ip_address(addr.split("%")[0]), limits)
        if why:
            if host.strip("[]").lower() == addr.lower():
                raise RefusedAddress(f"{addr} is {why}")
            raise RefusedAddress(f"{host} resolves to {addr}, {why}")
    return addresses


def _guarded_transport(limits: IngestLimits) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through :func:`resolve` (see above)."""
    import httpcore
    import httpx

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            addresses = resolve(host, port, limits)
            error: Exception | None = None
            for addr in addresses:
                try:
                    stream = super().connect_tcp(addr, port, timeout, local_address, socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    error = exc
                    continue
                peer = stream.get_extra_info("socket").getpeername()[0]
                why = address_problem(peer, limits)
                if why:  # the socket reached something else than what was checked
                    stream.close()
                    raise RefusedAddress(f"connected to {why}")
                return stream
            assert error is not None
            raise error

    class GuardedTransport(httpx.HTTPTransport):
        def __init__(self) -> None:
            super().__init__(trust_env=False)
            ssl_context = httpx.create_ssl_context(trust_env=False)
            self._pool = httpcore.ConnectionPool(
                ssl_context=ssl_context, network_backend=GuardedBackend()
            )

    return GuardedTransport()


def fetch(url: str, limits: IngestLimits, *, timeout: float | None = None) -> tuple[bytes, str]:
    """GET ``url`` within ``limits`` (following checked redirects): (body, media type).

    ``timeout`` overrides ``limits.url_timeout``.  Raises SourceError with the
    reason: refused address, HTTP error, too large, too slow, unreachable.
    """
    import httpx

    per_read = timeout if timeout is not None else limits.url_timeout
    deadline = time.monotonic() + limits.url_total_timeout
    current = url
    try:
        with httpx.Client(
            transport=_guarded_transport(limits), trust_env=False, follow_redirects=False
        ) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                with client.stream("GET", current, timeout=per_read) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        current = _next_hop(current, resp.headers["location"], url)
                        continue
                    if resp.status_code >= 400:
                        raise SourceError(
                            f"cannot download {url}: HTTP {resp.status_code} "
                            f"{resp.reason_phrase}".rstrip(),
                            hint=_NET_HINT,
                        )
                    data = _read_body(resp, url, limits, deadline)
                    return _as_utf8(data, resp.headers.get("content-type", ""))
            raise SourceError(
                f"too many redirects (over {MAX_REDIRECTS}) from {url}", hint=_NET_HINT
            )
    except RefusedAddress as exc:
        via = "" if current == url else f" (redirected to {current})"
        raise SourceError(f"refused {url}{via}: {exc.reason}", hint=_ALLOW_HINT) from None
    except httpx.TimeoutException as e:
        raise SourceError(f"timed out after {per_read:g}s fetching {url}", hint=_NET_HINT) from e
    except httpx.InvalidURL as e:
        raise SourceError(f"invalid URL {url!r}: {e}") from e
    except httpx.HTTPError as e:
        raise SourceError(f"cannot reach {url}: {e}", hint=_NET_HINT) from e
    except OSError as e:  # the resolver
        raise SourceError(f"cannot reach {url}: {e}", hint=_NET_HINT) from e
    except ValueError as e:  # a host name IDNA cannot encode, a bracketed non-address
        raise SourceError(f"invalid URL {url!r}: {e}") from None


def _next_hop(current: str, location: str, first: str) -> str:
    target = urljoin(current, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise SourceError(f"refused {first}: it redirects to {target!r}, not an http(s) URL")
    return target


def _read_body(resp: httpx.Response, url: str, limits: IngestLimits, deadline: float) -> bytes:
    """The response body, streamed; over the size or the total time limit raises SourceError."""
    cap = limits.max_download_bytes
    size_hint = "download it yourself and ingest the local file, or raise max_download_bytes"
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise SourceError(
            f"download too large: {url} announces {int(declared):,} bytes, over the "
            f"limit of {cap:,} (max_download_bytes)",
            hint=size_hint,
        )
    buf = bytearray()
    for block in resp.iter_bytes():
        buf += block
        if len(buf) > cap:
            raise SourceError(
                f"download too large: {url} sent over {cap:,} bytes (max_download_bytes)",
                hint=size_hint,
            )
        if time.monotonic() > deadline:
            raise SourceError(
                f"download too slow: {url} took over {limits.url_total_timeout:g}s "
                f"(url_total_timeout), {len(buf):,} bytes received",
                hint=_NET_HINT,
            )
    return bytes(buf)


def _as_utf8(data: bytes, ctype: str) -> tuple[bytes, str]:
    """(body, media type); a text page in a declared non-UTF-8 charset is re-encoded as UTF-8.

    So parse() needs no side channel for the charset; on failure the bytes stay
    as they are and parse() decodes them by its own rules.
    """
    media, _, params = ctype.partition(";")
    media = media.strip().lower()
    charset = re.search(r"charset=[\"']?([\w.:-]+)", params, re.IGNORECASE)
    if charset and media.startswith("text/") and charset.group(1).lower() not in ("utf-8", "utf8"):
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            data = data.decode(charset.group(1)).encode("utf-8")
    return data, media
