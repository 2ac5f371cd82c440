"""Loaders: discovery (dir, file, glob, zip, URL), include/exclude rules, parsing.

Everything runs on real files in tmp_path, zips built in the test, the shared
Milvus docs corpus (read-only) and a real HTTP server on 127.0.0.1, which URL
ingestion refuses unless allowed: the URL tests pass ``LOOPBACK`` explicitly.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _corpus import MILVUS_DOCS, needs_milvus_docs
from ossrag.config import IngestLimits
from ossrag.errors import LoadError, SourceError
from ossrag.ingest.loaders import (
    SourceSet,
    detect_format,
    discover,
    match_path,
    parse,
    split_front_matter,
)
from ossrag.types import RawSource, Skipped
from pdf_bytes import pdf_bytes

CORPUS = MILVUS_DOCS
FAQ = CORPUS / "en" / "faq"
needs_corpus = needs_milvus_docs
# The test server listens on loopback, which URL ingestion refuses by default.
LOOPBACK = IngestLimits(allow_url_networks=("127.0.0.1/32",))


def _split(items: SourceSet) -> tuple[dict[str, RawSource], dict[str, str]]:
    raws: dict[str, RawSource] = {}
    skipped: dict[str, str] = {}
    for item in items:
        if isinstance(item, Skipped):
            skipped[item.source] = item.reason
        else:
            raws[item.source] = item
    return raws, skipped


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    files = {
        "a.md": "# A\n\nalpha\n",
        "sub/b.md": "# B\n\nbeta\n",
        "sub/deep/c.txt": "gamma\n",
        "sub/deep/e.md": "# E\n\nepsilon\n",
        "notes.rst": "Notes\n=====\n\ntext\n",
        "page.html": "<h1>Page</h1><p>html</p>",
        "drafts/d.md": "# D\n\ndraft\n",
        "image.png": "\x89PNG",
        ".hidden.md": "# hidden\n",
        ".git/config.md": "# git\n",
        "sub/.cache/x.md": "# cache\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "empty_dir").mkdir()
    return root


# ---------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("en/faq/*.md", "en/faq/product_faq.md", True),
        ("en/faq/*.md", "en/faq/sub/x.md", False),
        ("en/faq/*.md", "other/en/faq/x.md", False),
        ("**/*.md", "a.md", True),
        ("**/*.md", "a/b/c.md", True),
        ("**/*.md", "a/b/c.txt", False),
        ("*.md", "a/b/c.md", True),  # no slash: the name at any depth
        ("drafts", "x/drafts/y.md", True),  # a matching directory takes its contents
        ("drafts/", "drafts/y.md", True),
        ("en/**", "en/a/b.md", True),
        ("en/**/faq/*.md", "en/faq/q.md", True),
        ("en/**/faq/*.md", "en/x/y/faq/q.md", True),
        ("?.md", "a.md", True),
        ("?.md", "ab.md", False),
        ("[ab].md", "x/b.md", True),
        ("[!ab].md", "x/b.md", False),
        ("/a.md", "x/a.md", False),  # a leading slash anchors at the root
        ("/a.md", "a.md", True),
    ],
)
def test_match_path(pattern: str, path: str, expected: bool) -> None:
    assert match_path(pattern, path) is expected


def test_detect_format() -> None:
    assert (
        detect_format("x/y.md")
        == detect_format("a.MARKDOWN")
        == detect_format("c.mdx")
        == "markdown"
    )
    assert detect_format("n.txt") == detect_format("n.text") == "text"
    assert detect_format("r.rst") == "rst"
    assert detect_format("h.html") == detect_format("h.HTM") == "html"
    assert detect_format("p.pdf") == "pdf"
    assert detect_format("x.docx") is None
    assert detect_format("Makefile") is None


# ---------------------------------------------------------------- directories


def test_directory_is_recursive_and_skips_hidden(tree: Path) -> None:
    sset = discover(str(tree))
    assert sset.origin == str(tree.resolve())
    raws, skipped = _split(sset)
    assert set(raws) == {
        "a.md",
        "sub/b.md",
        "sub/deep/c.txt",
        "sub/deep/e.md",
        "notes.rst",
        "page.html",
        "drafts/d.md",
    }
    assert skipped == {"image.png": "unsupported format .png"}
    assert raws["sub/deep/c.txt"].fmt == "text"
    assert raws["notes.rst"].fmt == "rst"
    assert raws["a.md"].data == (tree / "a.md").read_bytes()
    assert all(r.origin == str(tree.resolve()) for r in raws.values())


def test_empty_directory_yields_nothing(tree: Path) -> None:
    assert list(discover(str(tree / "empty_dir"))) == []


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory") as err:
        discover(str(tmp_path / "nope"))
    assert err.value.hint


def test_include_exclude(tree: Path) -> None:
    raws, skipped = _split(discover(str(tree), include=["sub/*.md"]))
    assert set(raws) == {"sub/b.md"} and not skipped
    raws, _ = _split(discover(str(tree), include=["**/*.md"]))
    assert set(raws) == {"a.md", "sub/b.md", "sub/deep/e.md", "drafts/d.md"}
    raws, _ = _split(discover(str(tree), include=["*.md"], exclude=["drafts", "sub/deep/**"]))
    assert set(raws) == {"a.md", "sub/b.md"}
    # An excluded unsupported file is not reported as skipped.
    _, skipped = _split(discover(str(tree), exclude=["*.png"]))
    assert skipped == {}
    # An included unsupported file is.
    _, skipped = _split(discover(str(tree), include=["*.png", "*.md"]))
    assert skipped == {"image.png": "unsupported format .png"}


def test_in_scope(tree: Path) -> None:
    sset = discover(str(tree), include=["**/*.md"], exclude=["drafts"])
    assert sset.in_scope("gone.md")
    assert sset.in_scope("sub/gone.md")
    assert not sset.in_scope("drafts/gone.md")
    assert not sset.in_scope("gone.txt")
    assert not sset.in_scope(".hidden/gone.md")
    # Everything iterated is in scope.
    assert all(sset.in_scope(r.source) for r in sset)


def test_single_file(tree: Path) -> None:
    sset = discover(str(tree / "sub" / "b.md"))
    assert sset.origin == str((tree / "sub").resolve())
    raws, skipped = _split(sset)
    assert list(raws) == ["b.md"] and not skipped
    # Re-ingesting one file must never prune its siblings.
    assert sset.in_scope("b.md")
    assert not sset.in_scope("other.md")


def test_explicit_hidden_file_is_read(tree: Path) -> None:
    raws, _ = _split(discover(str(tree / ".hidden.md")))
    assert list(raws) == [".hidden.md"]


def test_single_unsupported_file_is_a_source_error(tree: Path) -> None:
    with pytest.raises(SourceError, match=r"unsupported format \.png"):
        discover(str(tree / "image.png"))


def test_file_larger_than_limit_is_skipped(tree: Path) -> None:
    (tree / "big.md").write_text("# Big\n\n" + "x" * 500, encoding="utf-8")
    limits = IngestLimits(max_file_bytes=100)
    raws, skipped = _split(discover(str(tree), include=["*.md"], limits=limits))
    assert "big.md" not in raws
    assert skipped["big.md"].startswith("file too large")


# ---------------------------------------------------------------- globs


def test_glob_recursive(tree: Path) -> None:
    sset = discover(f"{tree}/**/*.md")
    assert sset.origin == str(tree.resolve())
    raws, skipped = _split(sset)
    assert set(raws) == {"a.md", "sub/b.md", "sub/deep/e.md", "drafts/d.md"}
    assert not skipped  # files the glob does not name are not reported
    assert sset.in_scope("new.md") and not sset.in_scope("new.txt")


def test_glob_single_level_relative(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    sset = discover("docs/sub/*.md")
    assert sset.origin == str((tree / "sub").resolve())
    assert [r.source for r in sset] == ["b.md"]
    assert not sset.in_scope("deep/e.md")


def test_glob_with_include_narrows(tree: Path) -> None:
    raws, _ = _split(discover(f"{tree}/**/*.md", include=["sub/**"]))
    assert set(raws) == {"sub/b.md", "sub/deep/e.md"}


def test_glob_with_missing_base(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such directory"):
        discover(f"{tmp_path}/missing/*.md")


@needs_corpus
def test_tutorial_glob_on_shared_corpus() -> None:
    # The tutorial: glob("milvus_docs/en/faq/*.md", recursive=True).
    expected = sorted(Path(p).name for p in glob.glob(str(FAQ / "*.md"), recursive=True))
    assert len(expected) >= 3
    assert sorted(r.source for r in discover(str(FAQ / "*.md"))) == expected
    by_include = discover(str(CORPUS), include=["en/faq/*.md"])
    assert sorted(r.source for r in by_include) == [f"en/faq/{n}" for n in expected]


# ---------------------------------------------------------------- zip files


def _faq_zip(extra: dict[str, bytes] | None = None) -> tuple[bytes, dict[str, bytes]]:
    members = {f"en/faq/{p.name}": p.read_bytes() for p in sorted(FAQ.glob("*.md"))[:3]}
    members["en/about/overview.md"] = b"# Overview\n\nMilvus overview.\n"
    members["en/img/logo.png"] = b"\x89PNG\r\n"
    members["en/.hidden.md"] = b"# hidden\n"
    members["__MACOSX/en/._x.md"] = b"\x00\x05\x16\x07"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("en/", b"")  # a directory entry
        for name, data in {**members, **(extra or {})}.items():
            zf.writestr(name, data)
    return buf.getvalue(), members


@needs_corpus
def test_zip_is_read_in_memory_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    data, members = _faq_zip(
        {"../evil.md": b"# evil\n", "/abs.md": b"# abs\n", "C:/win.md": b"# win\n"}
    )
    archive = tmp_path / "arc" / "docs.zip"
    archive.parent.mkdir()
    archive.write_bytes(data)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    sset = discover(str(archive))
    assert sset.origin == str(archive.resolve())
    raws, skipped = _split(sset)
    faq = {k for k in members if k.startswith("en/faq/")}
    assert set(raws) == faq | {"en/about/overview.md"}
    for name in faq:
        assert raws[name].data == members[name]
        assert raws[name].fmt == "markdown"
    assert "unsafe" in skipped["../evil.md"] and "'..'" in skipped["../evil.md"]
    assert "unsafe" in skipped["/abs.md"]
    assert "unsafe" in skipped["C:/win.md"]
    assert skipped["en/img/logo.png"] == "unsupported format .png"
    assert not any(".hidden" in k or "MACOSX" in k for k in {**raws, **skipped})
    # Nothing was extracted anywhere.
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil.md").exists() and not Path("/abs.md").exists()


@needs_corpus
def test_zip_include(tmp_path: Path) -> None:
    data, members = _faq_zip()
    archive = tmp_path / "docs.zip"
    archive.write_bytes(data)
    sset = discover(str(archive), include=["en/faq/*.md"])
    raws, skipped = _split(sset)
    assert set(raws) == {k for k in members if k.startswith("en/faq/")}
    assert not skipped
    assert sset.in_scope("en/faq/new.md") and not sset.in_scope("en/about/overview.md")


def test_zip_entry_larger_than_limit(tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.md", "# Big\n\n" + "x" * 5000)
        zf.writestr("small.md", "# Small\n\nok\n")
    raws, skipped = _split(discover(str(archive), limits=IngestLimits(max_file_bytes=1000)))
    assert set(raws) == {"small.md"}
    assert skipped["big.md"].startswith("file too large")


def test_corrupt_zip_is_a_source_error(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(SourceError, match="not a valid zip"):
        discover(str(archive))  # before any iteration: sync resolves specs before writing


def test_url_zip_that_is_not_a_zip(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    server.routes["/docs.zip"] = (200, {"Content-Type": "text/html"}, b"<html>Sign in</html>", 0)
    with pytest.raises(SourceError, match="did not return a zip archive"):
        discover(f"{base}/docs.zip", limits=LOOPBACK)


# ---------------------------------------------------------------- URLs


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        status, headers, body, delay = route
        if delay:
            time.sleep(delay)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout test)
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, tuple[int, dict[str, str], bytes, float]]


@pytest.fixture
def http_server() -> Iterator[tuple[_Server, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


PAGE = b"""<!doctype html><html><head><title>Milvus FAQ page</title>
<script>document.write("script text")</script><style>p { color: red }</style></head>
<body><h1>Storage</h1><p>Milvus stores data in MinIO &amp; etcd.</p></body></html>"""


def test_url_html_page(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    server.routes["/faq.html"] = (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE, 0)
    server.routes["/moved"] = (302, {"Location": "/faq.html"}, b"", 0)
    for url in (f"{base}/faq.html", f"{base}/moved"):
        sset = discover(url, limits=LOOPBACK)
        assert sset.origin == url
        [raw] = list(sset)
        assert isinstance(raw, RawSource)
        assert (raw.origin, raw.source, raw.fmt) == (url, url, "html")
        assert sset.in_scope(url) and not sset.in_scope(f"{base}/other.html")
        doc = parse(raw)
        assert doc.title == "Milvus FAQ page"
        assert "Milvus stores data in MinIO & etcd." in doc.text
        assert "script text" not in doc.text and "color" not in doc.text


def test_url_format_from_extension_and_charset(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    # raw.githubusercontent.com style: Markdown served as text/plain.
    server.routes["/raw/README.md"] = (
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
        b"---\ntitle: Readme\n---\n# R\n\nbody\n",
        0,
    )
    server.routes["/page"] = (
        200,
        {"Content-Type": "text/html; charset=iso-8859-1"},
        "<p>café</p>".encode("latin-1"),
        0,
    )
    [md] = list(discover(f"{base}/raw/README.md", limits=LOOPBACK))
    assert isinstance(md, RawSource) and md.fmt == "markdown"
    assert parse(md).title == "Readme"
    [page] = list(discover(f"{base}/page", limits=LOOPBACK))
    assert isinstance(page, RawSource) and page.fmt == "html"
    assert "café" in parse(page).text


@needs_corpus
def test_url_zip_like_the_tutorial(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    data, members = _faq_zip({"../evil.md": b"# evil\n"})
    zip_type = {"Content-Type": "application/zip"}
    server.routes["/releases/download/v2.4.6-preview/milvus_docs_2.4.x_en.zip"] = (
        200,
        zip_type,
        data,
        0,
    )
    # No .zip in the path and a generic type: recognised by the PK magic bytes.
    server.routes["/download?id=7"] = (200, {"Content-Type": "application/octet-stream"}, data, 0)
    faq = {k for k in members if k.startswith("en/faq/")}
    for path in ("/releases/download/v2.4.6-preview/milvus_docs_2.4.x_en.zip", "/download?id=7"):
        url = base + path
        sset = discover(url, include=["en/faq/*.md"], limits=LOOPBACK)
        assert sset.origin == url
        raws, skipped = _split(sset)
        assert set(raws) == faq
        assert all(raws[k].data == members[k] and raws[k].origin == url for k in faq)
        assert "unsafe" in skipped["../evil.md"]


def test_url_404_is_a_source_error(http_server: tuple[_Server, str]) -> None:
    _, base = http_server
    with pytest.raises(SourceError) as err:
        discover(f"{base}/missing.zip", limits=LOOPBACK)
    assert "404" in str(err.value) and f"{base}/missing.zip" in str(err.value)


def test_url_unreachable_is_a_source_error() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/docs.zip"
    with pytest.raises(SourceError, match="cannot reach") as err:
        discover(url, limits=LOOPBACK, timeout=5)
    assert url in str(err.value)


def test_url_timeout_is_a_source_error(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    server.routes["/slow.html"] = (200, {"Content-Type": "text/html"}, PAGE, 1.5)
    with pytest.raises(SourceError, match="timed out"):
        discover(f"{base}/slow.html", limits=LOOPBACK, timeout=0.3)


def test_url_unsupported_content(http_server: tuple[_Server, str]) -> None:
    server, base = http_server
    server.routes["/blob"] = (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n", 0)
    with pytest.raises(SourceError, match="unsupported content type image/png"):
        discover(f"{base}/blob", limits=LOOPBACK)


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(SourceError, match="unsupported URL scheme"):
        discover("ftp://example.org/docs.zip")


# ---------------------------------------------------------------- parse: text formats


def _raw(data: bytes, fmt: str, name: str = "x") -> RawSource:
    return RawSource("/origin", f"{name}.{fmt}", data, fmt)


def test_markdown_front_matter() -> None:
    text = (
        "---\nid: product_faq.md\nsummary: >\n  Answers to frequently\n  asked questions.\n"
        'title: "Product FAQ"\ntags:\n  - a\n  - b\nnested:\n  key: value\n---\n\n# Product FAQ\n\nBody.\n'
    )
    doc = parse(_raw(text.encode(), "markdown"))
    assert doc.title == "Product FAQ"
    assert doc.metadata == {
        "id": "product_faq.md",
        "summary": "Answers to frequently asked questions.",
        "parser": "markdown",
        "detected_by": "name",
    }
    assert doc.text == "\n# Product FAQ\n\nBody.\n"
    assert doc.source_hash and doc.fmt == "markdown"


def test_markdown_without_front_matter_takes_the_first_h1() -> None:
    text = "```\n# not a title\n```\n\n# Real Title\n\ntext\n"
    doc = parse(_raw(text.encode(), "markdown"))
    assert doc.title == "Real Title" and doc.text == text


def test_thematic_breaks_at_the_top_are_not_front_matter() -> None:
    text = "---\n\nJust a paragraph between rules.\n\n---\n\nMore.\n"
    fields, rest = split_front_matter(text)
    assert fields == {} and rest == text


@needs_corpus
def test_every_corpus_page_parses_with_its_front_matter_title() -> None:
    sset = discover(str(CORPUS), include=["**/*.md"])
    n = 0
    for raw in sset:
        assert isinstance(raw, RawSource), raw
        doc = parse(raw)
        n += 1
        head = raw.data.decode("utf-8")
        m = re.match(r"---\n(.*?)\n---\n", head, re.S)
        if m:
            assert not doc.text.startswith("---\nid:")
            t = re.search(r"^title: *(.*)$", m.group(1), re.M)
            if t:
                assert doc.title == t.group(1).strip().strip("'\"")
    assert n >= 250


def test_utf8_bom_and_newlines() -> None:
    doc = parse(_raw(b"\xef\xbb\xbf# T\r\n\r\nline one\rline two\r\n", "markdown"))
    assert doc.text == "# T\n\nline one\nline two\n"
    doc = parse(_raw("# Wide\n\ncafé\n".encode("utf-16"), "markdown"))
    assert doc.title == "Wide" and "café" in doc.text


@pytest.mark.parametrize("data", [b"", b"  \n\t\n", b"\xef\xbb\xbf\n"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(LoadError, match="empty"):
        parse(_raw(data, "markdown"))


def test_front_matter_only_is_empty() -> None:
    with pytest.raises(LoadError, match="empty"):
        parse(_raw(b"---\ntitle: Nothing\n---\n\n", "markdown"))


def test_binary_file_named_md() -> None:
    with pytest.raises(LoadError, match="binary") as err:
        parse(_raw(bytes(range(256)) * 10, "markdown"))
    assert err.value.hint


def test_invalid_utf8_is_decoded_by_the_fallback_and_says_so() -> None:
    """Latin-1 text is read (as Windows-1252), not refused; the note says what was done.
    More encodings: tests/test_untrusted_files.py."""
    data = "# Café\n\nCrème brûlée, déjà vu.\n".encode("latin-1")
    doc = parse(_raw(data, "markdown"))
    assert doc.title == "Café" and "Crème brûlée, déjà vu." in doc.text
    assert doc.metadata["decoding"].startswith("not UTF-8: decoded as Windows-1252")


def test_plain_text_is_kept() -> None:
    doc = parse(_raw(b"Line one.\n\n# not special in text\n", "text"))
    assert doc.text == "Line one.\n\n# not special in text\n" and doc.title == ""


def test_html_visible_text() -> None:
    html = b"""<!doctype html><html><head><title>  Milvus &amp; You </title>
    <style>body { color: red }</style><script>var secret = "script text";</script>
    <meta charset="utf-8"></head><body>
    <noscript>enable javascript</noscript><template><p>template text</p></template>
    <h1>Getting <em>started</em></h1><p>Milvus is a   vector
    database.<br>Second line &lt;ok&gt;.</p>
    <h2>Install</h2><ul><li>pip install pymilvus</li><li>Docker</li></ul>
    <pre><code># not a heading
print("hi")
</code></pre>
    <table><tr><th>Name</th><th>Value</th></tr><tr><td>dim</td><td>768</td></tr></table>
    <h3>   </h3><!-- a comment --></body></html>"""
    doc = parse(_raw(html, "html"))
    assert doc.title == "Milvus & You" and doc.fmt == "html"
    for hidden in ("script text", "color", "enable javascript", "template text", "a comment"):
        assert hidden not in doc.text
    assert "# Getting started\n" in doc.text
    assert "## Install\n" in doc.text
    assert "Milvus is a vector database.\nSecond line <ok>." in doc.text
    assert "- pip install pymilvus\n- Docker" in doc.text
    assert '```\n# not a heading\nprint("hi")\n```' in doc.text
    assert "Name | Value\ndim | 768" in doc.text
    assert not re.search(r"^#+\s*$", doc.text, re.M)  # the empty h3 is gone


def test_html_without_text() -> None:
    with pytest.raises(LoadError, match="no text"):
        parse(_raw(b"<html><head><script>x()</script></head><body> </body></html>", "html"))


def test_rst_sections_become_headings() -> None:
    rst = b"""=========
 Project
=========

.. _intro:

Intro with :ref:`a link <intro>`.

Section One
===========

.. note:: Be careful.

   Really careful.

.. code-block:: python
   :linenos:

   # a comment, not a heading
   x = 1

Sub A
-----

Example::

    literal # block

.. image:: foo.png
   :alt: foo

.. an rst comment
   over two lines

----

Section Two
===========

Two body.
"""
    doc = parse(_raw(rst, "rst"))
    assert doc.title == "Project"
    outside_code = re.sub(r"^```.*?^```", "", doc.text, flags=re.S | re.M)
    headings = re.findall(r"^(#+) (.*)$", outside_code, re.M)
    assert headings == [
        ("#", "Project"),
        ("##", "Section One"),
        ("###", "Sub A"),
        ("##", "Section Two"),
    ]
    assert "Intro with a link." in doc.text
    assert "Be careful.\n\nReally careful." in doc.text
    assert "```python\n# a comment, not a heading\nx = 1\n```" in doc.text
    assert "Example:\n\n```\nliteral # block\n```" in doc.text
    for gone in ("_intro", "foo.png", ":alt:", "rst comment", "two lines", ":linenos:", "----"):
        assert gone not in doc.text


# ---------------------------------------------------------------- parse: PDF


def make_pdf(*pages: str) -> bytes:
    """A minimal valid PDF with one Helvetica text line per page and a correct xref."""
    return pdf_bytes([b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % t.encode("latin-1") for t in pages])


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "hello.pdf"
    path.write_bytes(make_pdf("Hello Milvus", "Second page text"))
    [raw] = list(discover(str(path)))
    assert isinstance(raw, RawSource) and raw.fmt == "pdf"
    doc = parse(raw)
    assert doc.metadata["pages"] == 2
    first, second = doc.text.split("\n\n")
    assert first.strip() == "Hello Milvus" and second.strip() == "Second page text"


def test_corrupt_pdf() -> None:
    data = make_pdf("Hello Milvus")[:60] + b"garbage" * 10
    with pytest.raises(LoadError, match="cannot read PDF") as err:
        parse(_raw(data, "pdf"))
    assert err.value.hint and "text layer" in err.value.hint


def test_pdf_without_text_layer() -> None:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(LoadError, match="no text layer"):
        parse(_raw(buf.getvalue(), "pdf"))


def test_parse_never_touches_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parse(_raw(make_pdf("x y z"), "pdf"))
    parse(_raw(b"# T\n\ntext\n", "markdown"))
    assert os.listdir(tmp_path) == []
