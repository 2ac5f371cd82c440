"""The ``ossrag`` command, driven through real subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _corpus import MILVUS_DOCS
from ossrag.embedders import default_e5

CORPUS = MILVUS_DOCS
FAQ = CORPUS / "en" / "faq"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle.lower() in err.lower(), err


HIT_KEYS = {
    "id": str,
    "score": float,
    "text": str,
    "source": str,
    "heading": str,
    "chunk_index": int,
}


def validate_search_json(data: dict) -> None:
    assert set(data) == {"query", "kb", "mode", "hits"}
    assert isinstance(data["query"], str) and isinstance(data["kb"], str)
    assert data["mode"] in ("dense", "bm25", "hybrid")
    for hit in data["hits"]:
        assert set(hit) == set(HIT_KEYS)
        for key, typ in HIT_KEYS.items():
            assert isinstance(hit[key], typ), (key, hit[key])


@pytest.fixture(scope="module")
def faq_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Milvus Lite file with the shared FAQ pages, ingested through the CLI from the corpus root."""
    work = tmp_path_factory.mktemp("cli")
    proc = run(
        "--db", str(work / "faq.db"), "ingest", str(CORPUS), "--include", "en/faq/*.md", cwd=work
    )
    assert proc.returncode == 0, proc.stderr
    assert "added 4" in proc.stdout
    return work / "faq.db"


def test_search_json_schema_and_relative_source(faq_db: Path, tmp_path: Path) -> None:
    proc = run(
        "--db", str(faq_db), "search", "How is data stored in milvus?", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    validate_search_json(data)
    assert data["kb"] == "default" and len(data["hits"]) == 3
    top = data["hits"][0]
    assert top["source"] == "en/faq/product_faq.md"
    assert "Where does Milvus store data?" in top["heading"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_modes(faq_db: Path, tmp_path: Path, mode: str) -> None:
    proc = run(
        "--db",
        str(faq_db),
        "search",
        "Where does Milvus store data?",
        "--mode",
        mode,
        "-k",
        "5",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    validate_search_json(data)
    assert data["mode"] == mode and len(data["hits"]) == 5
    scores = [h["score"] for h in data["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_search_filters(faq_db: Path, tmp_path: Path) -> None:
    proc = run(
        "--db",
        str(faq_db),
        "search",
        "performance",
        "--source",
        "en/faq/performance_*",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert hits and {h["source"] for h in hits} == {"en/faq/performance_faq.md"}
    bad = run("--db", str(faq_db), "search", "x", "--filter", "source ==", cwd=tmp_path)
    assert_user_error(bad, "filter")


def test_kb_list_info_drop(faq_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    assert (
        run(
            "--db", str(db), "--kb", "tmp", "ingest", str(FAQ / "product_faq.md"), cwd=tmp_path
        ).returncode
        == 0
    )
    listing = run("--db", str(db), "kb", "list", cwd=tmp_path)
    assert listing.returncode == 0 and listing.stdout.startswith("tmp\t")
    info = run("--db", str(db), "--kb", "tmp", "kb", "info", "--json", cwd=tmp_path)
    data = json.loads(info.stdout)
    assert data["sources"] == 1 and data["rows"] > 10 and data["embedder"] == default_e5()
    refused = run("--db", str(db), "--kb", "tmp", "kb", "drop", cwd=tmp_path)
    assert_user_error(refused, "--yes")
    assert run("--db", str(db), "kb", "drop", "--kb", "tmp", "--yes", cwd=tmp_path).returncode == 0
    assert "no knowledge bases" in run("--db", str(db), "kb", "list", cwd=tmp_path).stdout


def test_kb_info_and_drop_take_a_name(tmp_path: Path) -> None:
    """`ossrag kb drop NAME --yes`, as error hints suggest, drops that KB and no other."""
    db = tmp_path / "two.db"
    for kb in ("keep", "gone"):
        proc = run("--db", str(db), "--kb", kb, "ingest", str(FAQ / "product_faq.md"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    info = run("--db", str(db), "kb", "info", "gone", "--json", cwd=tmp_path)
    assert info.returncode == 0 and json.loads(info.stdout)["kb"] == "gone"
    assert run("--db", str(db), "kb", "drop", "gone", "--yes", cwd=tmp_path).returncode == 0
    listing = run("--db", str(db), "kb", "list", cwd=tmp_path).stdout
    assert listing.startswith("keep\t") and "gone" not in listing
    missing = run("--db", str(db), "kb", "drop", "gone", "--yes", cwd=tmp_path)
    assert_user_error(missing, "ossrag kb list")


def test_env_and_toml_settings(faq_db: Path, tmp_path: Path) -> None:
    (tmp_path / "ossrag.toml").write_text(f'db = "{faq_db}"\ntop_k = 2\n')
    proc = run("search", "storage", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["hits"]) == 2
    proc = run("search", "storage", "--json", cwd=tmp_path, env={"OSSRAG_TOP_K": "4"})
    assert len(json.loads(proc.stdout)["hits"]) == 4
    proc = run("search", "storage", "--json", "-k", "1", cwd=tmp_path, env={"OSSRAG_TOP_K": "4"})
    assert len(json.loads(proc.stdout)["hits"]) == 1


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    assert_user_error(run("ingest", str(tmp_path / "missing"), cwd=tmp_path), "no such file")
    assert_user_error(
        run("--uri", "http://127.0.0.1:9", "search", "x", cwd=tmp_path), "cannot connect"
    )
    assert_user_error(run("search", "x", cwd=tmp_path), "does not exist", "ingest")
    (tmp_path / "bad.toml").write_text("kb = [unclosed")
    assert_user_error(
        run("search", "x", cwd=tmp_path, env={"OSSRAG_CONFIG": str(tmp_path / "bad.toml")}), "toml"
    )


def test_embedder_mismatch_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nSome text about vectors.\n")
    assert run("--db", str(tmp_path / "m.db"), "ingest", str(doc), cwd=tmp_path).returncode == 0
    proc = run(
        "--db", str(tmp_path / "m.db"), "--embedder", "minilm", "ingest", str(doc), cwd=tmp_path
    )
    assert_user_error(proc, default_e5(), "minilm")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run("ingest", str(tmp_path / "missing"), cwd=tmp_path, env={"OSSRAG_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.fixture()
def zip_server(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server serving a zip built from the shared corpus (like the tutorial's)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(FAQ.glob("*.md")):
            zf.write(path, f"en/faq/{path.name}")
        zf.write(CORPUS / "en" / "about" / "overview.md", "en/about/overview.md")
    served = tmp_path / "www"
    served.mkdir()
    (served / "milvus_docs_2.4.x_en.zip").write_bytes(buf.getvalue())
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/milvus_docs_2.4.x_en.zip"
    finally:
        server.shutdown()
        server.server_close()


def test_ingest_zip_url_with_include(zip_server: str, tmp_path: Path) -> None:
    db = str(tmp_path / "z.db")
    # The server is on loopback, which URL ingestion refuses unless allowed.
    allow = ("--allow-url-network", "127.0.0.1")
    proc = run(
        "--db", db, "ingest", zip_server, "--include", "en/faq/*.md", "--json", *allow, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["added"] == 4 and report["skipped"] == []
    hits = json.loads(
        run("--db", db, "search", "How is data stored in milvus?", "--json", cwd=tmp_path).stdout
    )["hits"]
    assert hits[0]["source"] == "en/faq/product_faq.md"
    again = json.loads(
        run(
            "--db",
            db,
            "ingest",
            zip_server,
            "--include",
            "en/faq/*.md",
            "--json",
            cwd=tmp_path,
            env={"OSSRAG_ALLOW_PRIVATE_URLS": "1"},
        ).stdout
    )
    assert again["unchanged"] == 4 and again["chunks_written"] == 0
