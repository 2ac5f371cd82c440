"""Untrusted URLs: only public addresses, checked at connect and on every redirect; size and time.

Real HTTP servers on loopback (127.0.0.1 and 127.0.0.2: Linux routes all of
127/8 to lo, so a second server proves a refusal is not just "unreachable"),
the real httpx client through ossrag's guarded transport, the real CLI and
the real server.  Where a test needs a host name to resolve somewhere, it
overrides ``socket.getaddrinfo`` for that one name (the resolver is the
attacker's tool here, not the thing under test).  Every test says what it
guards and fails without that protection.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ossrag import Settings
from ossrag.config import IngestLimits
from ossrag.errors import SourceError
from ossrag.ingest.loaders import discover
from ossrag.types import RawSource

PAGE = b"# Page\n\nThe page's text.\n"
Route = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    hits: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        with contextlib.suppress(OSError):  # the client gave up (size and time limits)
            if route is None:
                self.send_error(404)
            else:
                route(self)

    def log_message(self, *args: object) -> None:
        pass


def page(body: bytes = PAGE, ctype: str = "text/markdown") -> Route:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return send


def redirect(location: str) -> Route:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return send


def stream(
    total: int, *, block: int = 65536, pause: float = 0.0, length: int | None = None
) -> Route:
    """A body of ``total`` bytes in blocks (close-delimited unless ``length`` is announced)."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        if length is not None:
            h.send_header("Content-Length", str(length))
        h.send_header("Connection", "close")
        h.end_headers()
        sent = 0
        while sent < total:
            n = min(block, total - sent)
            h.wfile.write(b"a" * n)
            h.wfile.flush()
            sent += n
            if pause:
                time.sleep(pause)
        h.close_connection = True

    return send


@contextlib.contextmanager
def serve(host: str = "127.0.0.1") -> Iterator[tuple[_Server, str]]:
    server = _Server((host, 0), _Handler)
    server.routes, server.hits = {}, []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site() -> Iterator[tuple[_Server, str]]:
    with serve() as (server, base):
        server.routes["/page.md"] = page()
        yield server, base


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """``names[host] = [ip, ...]``: each lookup of ``host`` answers with the next address
    (the last one repeats); other names resolve normally.  ``names["_calls"]`` logs lookups."""
    real = socket.getaddrinfo
    names: dict[str, list[str]] = {"_calls": []}

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in names:
            names["_calls"].append(host)
            answers = names[host]
            ip = answers.pop(0) if len(answers) > 1 else answers[0]
            return real(ip, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names


def _fetch(url: str, limits: IngestLimits | None = None) -> bytes:
    [raw] = list(discover(url, limits=limits))
    assert isinstance(raw, RawSource)
    return raw.data


# ---------------------------------------------------------------- addresses


LOOPBACK_SPELLINGS = {
    "127.0.0.1": "127.0.0.1 is a loopback address",
    "localhost": "localhost resolves to 127.0.0.1, a loopback address",
    "127.1": "127.1 resolves to 127.0.0.1, a loopback address",
    "2130706433": "2130706433 resolves to 127.0.0.1, a loopback address",
    "0x7f000001": "0x7f000001 resolves to 127.0.0.1, a loopback address",
    "[::ffff:127.0.0.1]": "::ffff:127.0.0.1 is a loopback address (it stands for 127.0.0.1)",
    "0.0.0.0": "0.0.0.0 is an unspecified address (it reaches this machine)",
}


@pytest.mark.parametrize("host", sorted(LOOPBACK_SPELLINGS))
def test_loopback_in_any_spelling_is_refused(site: tuple[_Server, str], host: str) -> None:
    """Guards: this machine (loopback, 0.0.0.0) is refused however it is written: decimal,
    hex, short form, IPv6-mapped, a name. The page is served there, yet never requested."""
    server, base = site
    port = base.rsplit(":", 1)[1]
    with pytest.raises(SourceError, match="refused") as err:
        discover(f"http://{host}:{port}/page.md")
    assert LOOPBACK_SPELLINGS[host] in err.value.message
    assert "--allow-private-urls" in (err.value.hint or "")
    assert server.hits == []


PRIVATE = {
    "169.254.169.254": "a cloud metadata address",
    "[fd00:ec2::254]": "a cloud metadata address",
    "100.100.100.200": "a cloud metadata address",
    "169.254.1.1": "a link-local address",
    "[fe80::1]": "a link-local address",
    "10.0.0.1": "a private address",
    "172.16.5.4": "a private address",
    "192.168.1.1": "a private address",
    "[fc00::1]": "a private address",
    "100.64.0.1": "not a public address",
    "224.0.0.1": "a multicast address",
    "[::1]": "a loopback address",
    "[64:ff9b::7f00:1]": "a loopback address (it stands for 127.0.0.1)",
}


@pytest.mark.parametrize("host", sorted(PRIVATE))
def test_private_link_local_and_metadata_addresses_are_refused_before_connecting(host: str) -> None:
    """Guards: SSRF to the local network and to cloud metadata services: refused by address,
    at once (no connection is tried, so nothing waits for a timeout)."""
    started = time.monotonic()
    with pytest.raises(SourceError, match="refused") as err:
        discover(f"http://{host}/latest/meta-data/", timeout=20)
    assert PRIVATE[host] in err.value.message
    assert time.monotonic() - started < 2


def test_the_allowance_is_explicit_and_can_be_narrow(site: tuple[_Server, str]) -> None:
    """Guards: private addresses are fetched only when allowed: all of them
    (allow_private_urls, OSSRAG_ALLOW_PRIVATE_URLS) or listed networks (allow_url_networks)."""
    _, base = site
    url = f"{base}/page.md"
    with pytest.raises(SourceError, match="refused"):
        discover(url)
    with pytest.raises(SourceError, match="refused"):
        discover(url, limits=IngestLimits(allow_url_networks=("10.0.0.0/8",)))
    env = Settings.load(env={"OSSRAG_ALLOW_PRIVATE_URLS": "1"}, config_path="none.toml")
    for limits in (
        IngestLimits(allow_private_urls=True),
        env.ingest_limits(),
        IngestLimits(allow_url_networks=("127.0.0.1",)),
    ):
        assert _fetch(url, limits) == PAGE


# ---------------------------------------------------------------- redirects and DNS


def test_every_redirect_is_checked(site: tuple[_Server, str]) -> None:
    """Guards: an allowed page cannot bounce the fetch to a refused address (another loopback
    server outside the allowed network, the metadata service), a file:// URL or a loop."""
    server, base = site
    allowed = IngestLimits(allow_url_networks=("127.0.0.1",))
    with serve("127.0.0.2") as (other, other_base):
        other.routes["/secret.md"] = page(b"# Secret\n\nadmin panel\n")
        server.routes.update(
            {
                "/to-other": redirect(f"{other_base}/secret.md"),
                "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/iam/"),
                "/to-file": redirect("file:///etc/passwd"),
                "/loop": redirect("/loop"),
                "/to-page": redirect("/page.md"),
            }
        )
        with pytest.raises(SourceError) as err:
            discover(f"{base}/to-other", limits=allowed)
        assert err.value.message == (
            f"refused {base}/to-other (redirected to {other_base}/secret.md): "
            "127.0.0.2 is a loopback address"
        )
        assert other.hits == []
        with pytest.raises(
            SourceError, match=r"redirected to http://169\.254\.169\.254/.*metadata"
        ):
            discover(f"{base}/to-metadata", limits=allowed)
        with pytest.raises(SourceError, match="redirects to 'file:///etc/passwd', not an http"):
            discover(f"{base}/to-file", limits=allowed)
        with pytest.raises(SourceError, match="too many redirects"):
            discover(f"{base}/loop", limits=allowed)
        assert _fetch(f"{base}/to-page", allowed) == PAGE  # a redirect that stays allowed


def test_a_name_that_resolves_to_loopback_is_refused(
    site: tuple[_Server, str], resolver: dict[str, list[str]]
) -> None:
    """Guards: the check is on the resolved address, not on how the URL looks."""
    server, base = site
    resolver["docs.example.test"] = ["127.0.0.1"]
    port = base.rsplit(":", 1)[1]
    with pytest.raises(SourceError) as err:
        discover(f"http://docs.example.test:{port}/page.md")
    assert "docs.example.test resolves to 127.0.0.1, a loopback address" in err.value.message
    assert server.hits == []


def test_dns_rebinding_cannot_switch_the_address(
    site: tuple[_Server, str], resolver: dict[str, list[str]]
) -> None:
    """Guards: resolve once, connect to that address. The name answers the allowed address
    first and a refused one afterwards (a rebinding DNS server); a check followed by a second
    lookup at connect time would fetch the secret from the refused one."""
    server, base = site
    port = int(base.rsplit(":", 1)[1])
    # The same port on 127.0.0.2 (a different address, so free), serving something else.
    rebound = _Server(("127.0.0.2", port), _Handler)
    rebound.routes, rebound.hits = {"/page.md": page(b"# Secret\n\ninternal\n")}, []
    threading.Thread(target=rebound.serve_forever, args=(0.05,), daemon=True).start()
    try:
        resolver["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
        data = _fetch(
            f"http://rebind.test:{port}/page.md", IngestLimits(allow_url_networks=("127.0.0.1",))
        )
    finally:
        rebound.shutdown()
        rebound.server_close()
    assert data == PAGE and server.hits == ["/page.md"]
    assert rebound.hits == [] and resolver["_calls"] == ["rebind.test"]


# ---------------------------------------------------------------- size and time


def test_an_announced_oversize_download_is_refused_before_reading(
    site: tuple[_Server, str],
) -> None:
    """Guards: max_download_bytes against Content-Length: refused before the body is read."""
    server, base = site
    server.routes["/huge"] = stream(1 << 20, length=10 << 30)  # says 10 GiB
    limits = IngestLimits(allow_private_urls=True, max_download_bytes=1 << 20)
    with pytest.raises(
        SourceError,
        match=r"announces 10,737,418,240 bytes, over the limit of "
        r"1,048,576 \(max_download_bytes\)",
    ):
        discover(f"{base}/huge", limits=limits)


def test_a_streamed_oversize_download_is_cut_at_the_limit(site: tuple[_Server, str]) -> None:
    """Guards: a body without Content-Length is cut at max_download_bytes, not read to the end
    (the server would send 64 MiB)."""
    server, base = site
    server.routes["/endless.txt"] = stream(64 << 20)
    limits = IngestLimits(allow_private_urls=True, max_download_bytes=256 << 10)
    with pytest.raises(SourceError, match=r"sent over 262,144 bytes \(max_download_bytes\)"):
        discover(f"{base}/endless.txt", limits=limits)


@pytest.mark.timeout(60)
def test_a_slow_drip_is_cut_by_the_total_time_limit(site: tuple[_Server, str]) -> None:
    """Guards: url_total_timeout: a server that sends a byte every 0.2 s never trips the read
    timeout, and would take 20 s; the download stops after about 1 s."""
    server, base = site
    server.routes["/drip.txt"] = stream(100, block=1, pause=0.2)
    limits = IngestLimits(allow_private_urls=True, url_timeout=5, url_total_timeout=1)
    started = time.monotonic()
    with pytest.raises(
        SourceError, match=r"download too slow: .* took over 1s \(url_total_timeout\)"
    ):
        discover(f"{base}/drip.txt", limits=limits)
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
def test_a_silent_server_hits_the_read_timeout(site: tuple[_Server, str]) -> None:
    """Guards: url_timeout: a server that accepts and then says nothing is given up on."""
    server, base = site
    server.routes["/silent"] = lambda h: time.sleep(10)
    limits = IngestLimits(allow_private_urls=True, url_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"timed out after 0\.5s"):
        discover(f"{base}/silent", limits=limits)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- the front ends


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(600)
def test_cli_refuses_loopback_unless_the_flag_allows_it(
    site: tuple[_Server, str], tmp_path: Path
) -> None:
    """Guards: `ossrag ingest URL` refuses with one line that names the flag; with
    --allow-private-urls the same URL is ingested."""
    server, base = site
    db = str(tmp_path / "u.db")
    refused = _cli("--db", db, "ingest", f"{base}/page.md", cwd=tmp_path)
    assert refused.returncode != 0
    assert refused.stderr.startswith(f"error: refused {base}/page.md: 127.0.0.1 is a loopback")
    assert "--allow-private-urls" in refused.stderr and "Traceback" not in refused.stderr
    assert server.hits == []
    allowed = _cli(
        "--db", db, "ingest", f"{base}/page.md", "--allow-private-urls", "--json", cwd=tmp_path
    )
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["added"] == 1 and server.hits == ["/page.md"]


@pytest.mark.timeout(600)
def test_the_server_refuses_private_urls_posted_to_it(
    site: tuple[_Server, str], tmp_path: Path
) -> None:
    """Guards: POST /v1/ingest is where SSRF matters most (anyone with the key can post a URL):
    with default settings the job reports each refused URL and nothing is fetched."""
    from fixtures_server import running_server
    from server_kb import build_kb

    server, base = site
    settings = build_kb(tmp_path)  # default settings: no allowance
    urls = [f"{base}/page.md", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"]
    with running_server(settings) as api:
        posted = httpx.post(f"{api}/v1/ingest", json={"kb": "docs", "urls": urls}, timeout=30)
        assert posted.status_code == 202, posted.text
        job: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = httpx.get(f"{api}/v1/jobs/{posted.json()['id']}", timeout=30).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
    assert job["status"] == "done", job
    reasons = {e["source"]: e["reason"] for e in job["errors"]}
    assert "127.0.0.1 is a loopback address" in reasons[urls[0]]
    assert "169.254.169.254 is a cloud metadata address" in reasons[urls[1]]
    assert server.hits == []
