"""The web page's files through a real uvicorn: served at / and /static/ with the CSP, open
without the key (the API behind it is not), never anything outside static/, shipped in the
wheel, and the vendored libraries exactly the published files the README lists.

The page in a real browser is tests/test_page_browser.py."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from fixtures_server import running_server
from ossrag.config import Settings

server = pytest.importorskip("ossrag.server")
from ossrag.server.page import CSP, STATIC  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _settings(tmp_path: Path) -> Settings:
    return Settings.load({"uri": str(tmp_path / "kb.db"), "kb": "docs"}, env={})


class _Refs(HTMLParser):
    """The scripts, styles and icons a page refers to, and any inline script or handler."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.inline += [f"{tag} {k}" for k in a if k.startswith("on")]
        if tag == "script":
            self._in_script = "src" not in a
            if a.get("src"):
                self.refs.append(str(a["src"]))
        elif tag in ("link", "img") and (a.get("href") or a.get("src")):
            self.refs.append(str(a.get("href") or a.get("src")))
        if "style" in a:
            self.inline.append(f"{tag} style")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline <script>")


def test_the_page_and_its_files_are_served_with_the_csp(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path)) as base:
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert csp == CSP
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ):
            assert directive in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        refs = _Refs()
        refs.feed(page.text)
        assert refs.inline == []  # the CSP would block it anyway: none written
        assert len(refs.refs) >= 6
        for ref in refs.refs:  # every file the page asks for is served, from here, typed right
            assert not re.match(r"^[a-z]+:|^//", ref), f"{ref} is not a local file"
            got = httpx.get(f"{base}/{ref}")
            assert got.status_code == 200, ref
            assert got.headers["content-security-policy"] == CSP
            want = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
            assert got.headers["content-type"].startswith(want[Path(ref).suffix]), ref
        assert httpx.get(f"{base}/favicon.ico").headers["content-type"].startswith("image/svg")


def test_nothing_outside_static_is_served(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path)) as base:
        for path in (
            "/static/../page.py",
            "/static/%2e%2e/page.py",
            "/static/..%2fpage.py",
            "/static/%2e%2e/%2e%2e/config.py",
            "/static//etc/passwd",
            "/static/nothing.js",
            "/static/vendor",
        ):
            got = httpx.get(f"{base}{path}")
            assert got.status_code == 404, path
            assert "error" in got.json()


def test_the_page_is_open_but_the_api_behind_it_needs_the_key(tmp_path: Path) -> None:
    with running_server(_settings(tmp_path), server.ServerConfig(api_key="s3cret")) as base:
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/static/page.js").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 401
        assert (
            httpx.get(f"{base}/readyz", headers={"Authorization": "Bearer s3cret"}).status_code
            == 200
        )


def test_a_browser_loading_the_page_in_parallel_is_not_rate_limited(tmp_path: Path) -> None:
    """Browsers fetch a page's files six at a time; the per-client limit is for the API."""
    config = server.ServerConfig(max_concurrent_per_client=1)
    files = ["/", "/favicon.ico"] + [
        f"/static/{p.relative_to(STATIC)}" for p in STATIC.rglob("*.js")
    ]
    with running_server(_settings(tmp_path), config) as base:
        statuses: list[int] = []
        barrier = threading.Barrier(len(files))

        def get(path: str) -> None:
            with httpx.Client() as client:  # one connection each, like a browser's pool
                barrier.wait()
                statuses.append(client.get(f"{base}{path}").status_code)

        threads = [threading.Thread(target=get, args=(f,)) for f in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert statuses == [200] * len(files)


def test_vendored_libraries_are_the_published_files_listed_in_the_readme() -> None:
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `([\w.]+\.js)` \| \[(\w+)\][^|]*\| ([\d.]+) \| ([^|]+) \|[^|]*\| `([0-9a-f]{64})` \|$",
        readme,
        re.M,
    )
    assert {r[0] for r in rows} == {p.name for p in (STATIC / "vendor").glob("*.js")}
    for name, package, version, license_, digest in rows:
        data = (STATIC / "vendor" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, (
            f"{name} differs from {package} {version}"
        )
        header = data[:400].decode("utf-8", "replace")
        assert version in header and "licen" in header.lower(), f"{name} lost its license header"
        assert license_.strip() and (STATIC / "vendor" / f"LICENSE.{package}").is_file()


def test_a_wheel_ships_every_file_of_the_page(tmp_path: Path) -> None:
    """A non-editable install has the page: build the wheel from a copy of the tree."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    out = tmp_path / "dist"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(tmp_path),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode and "No module named" in proc.stderr:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("ossrag-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"ossrag/server/static/{p.relative_to(STATIC).as_posix()}"
        for p in STATIC.rglob("*")
        if p.is_file()
    }
    assert shipped and shipped <= names, sorted(shipped - names)
