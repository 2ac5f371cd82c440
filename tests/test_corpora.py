"""Finding the evaluation corpora: env var, beside the clone, the cache, a download.

The download is tested against a loopback HTTP server serving a small zip
shaped like the tutorial's release archive; no test reaches the network.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from _corpus import MILVUS_DOCS_MISSING, REQUIRE, SPHINX_DOCS_MISSING
from ossrag.errors import SourceError
from ossrag.evaluation import corpora


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


RELEASE = _zip(
    {
        "en/faq/product_faq.md": "# Product FAQ\n\nMilvus stores data.\n",
        "en/about/overview.md": "# Overview\n",
    }
)


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = {
            "/docs.zip": RELEASE,
            "/bad.zip": b"not a zip",
            "/evil.zip": _zip({"../evil/en/faq/x.md": "x"}),
        }.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = []
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSSRAG_CORPUS", raising=False)
    monkeypatch.delenv("OSSRAG_SPHINX_DOCS", raising=False)
    corpora._FAILED.clear()
    corpora._download.cache_clear()


def _fake_corpus(root: Path) -> Path:
    (root / "en" / "faq").mkdir(parents=True)
    return root


def test_env_var_wins_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSRAG_CORPUS", str(_fake_corpus(tmp_path / "mine")))
    assert corpora.milvus_docs(tmp_path, download=False) == (tmp_path / "mine").resolve()
    monkeypatch.setenv("OSSRAG_CORPUS", str(tmp_path))
    with pytest.raises(SourceError, match=r"OSSRAG_CORPUS=.* is not the Milvus docs"):
        corpora.milvus_docs(tmp_path, download=False)


def test_found_beside_the_clone_from_any_directory_inside_it(tmp_path: Path) -> None:
    corpus = _fake_corpus(tmp_path / "shared" / "corpora" / "milvus_docs")
    deep = tmp_path / "clone" / "tests" / "data"
    deep.mkdir(parents=True)
    assert corpora.milvus_docs(deep, download=False) == corpus
    assert corpora.milvus_docs(tmp_path / "clone", download=False) == corpus


def test_missing_offline_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        corpora.milvus_docs(tmp_path, download=False, cache_dir=tmp_path / "cache")
    assert "OSSRAG_CORPUS" in str(err.value) and "../shared/corpora/milvus_docs" in str(err.value)


def test_downloaded_once_into_the_cache(tmp_path: Path, server: str) -> None:
    cache = tmp_path / "cache"
    path = corpora.milvus_docs(tmp_path, cache_dir=cache, url=f"{server}/docs.zip")
    assert path == cache / "corpora" / "milvus_docs"
    assert (path / "en" / "faq" / "product_faq.md").read_text().startswith("# Product FAQ")
    again = corpora.milvus_docs(tmp_path, cache_dir=cache, url=f"{server}/docs.zip")
    assert again == path and _Handler.hits == ["/docs.zip"]  # the second call reads the cache
    assert not [p for p in (cache / "corpora").iterdir() if p.name != "milvus_docs"]  # no leftovers


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.zip", "HTTP 404"),
        ("bad.zip", "did not return a zip"),
        ("evil.zip", "unsafe path"),
    ],
)
def test_bad_downloads_are_source_errors_and_leave_nothing(
    tmp_path: Path, server: str, name: str, message: str
) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match=message) as err:
        corpora.milvus_docs(tmp_path, cache_dir=cache, url=f"{server}/{name}")
    assert err.value.hint and "OSSRAG_CORPUS" in err.value.hint
    assert not (cache / "corpora" / "milvus_docs").exists()
    assert not (tmp_path / "evil").exists()
    # a failed download is not retried in the same process (no second wait)
    with pytest.raises(SourceError):
        corpora.milvus_docs(tmp_path, cache_dir=cache, url=f"{server}/{name}")
    assert len(_Handler.hits) == 1


def test_unreachable_host_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="downloading it failed"):
        corpora.milvus_docs(
            tmp_path, cache_dir=tmp_path / "c", url="http://127.0.0.1:9/x.zip", timeout=5
        )


def test_sphinx_docs_missing_names_the_apt_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSSRAG_SPHINX_DOCS", str(tmp_path))
    with pytest.raises(SourceError) as err:
        corpora.sphinx_docs()
    assert "apt-get install sphinx-doc" in str(err.value)
    (tmp_path / "_sources").mkdir()
    (tmp_path / "_sources" / "glossary.rst.txt").write_text("Glossary\n========\n")
    assert corpora.sphinx_docs() == tmp_path / "_sources"


@pytest.mark.skipif(not REQUIRE, reason="only checked when OSSRAG_REQUIRE_CORPUS=1")
def test_corpora_are_present_when_required() -> None:
    """CI (scripts/test.sh) sets OSSRAG_REQUIRE_CORPUS=1: a missing corpus is a failure."""
    assert not MILVUS_DOCS_MISSING, MILVUS_DOCS_MISSING
    assert not SPHINX_DOCS_MISSING, SPHINX_DOCS_MISSING
