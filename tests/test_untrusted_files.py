"""Untrusted files: each hostile input is skipped with a reason, or read the documented way.

Binary content behind text extensions, invalid and mixed encodings, empty and
huge files, PDFs that hang or crash the parser, zip bombs, zip entries and
symlinks that escape, FIFOs, HTML that hides text.  Every test says what it
guards; each fails without that protection (docs/reliability.md lists the
inputs, what ossrag does and the reason shown).  Real files in tmp_path, real
zips, the real pypdf in its real child process, Milvus Lite and the real
embedder for "nothing already indexed is lost", the real CLI in a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ossrag import KnowledgeBase, Settings
from ossrag.config import IngestLimits
from ossrag.errors import LoadError
from ossrag.ingest.loaders import SourceSet, discover, parse
from ossrag.ingest.parsers import pdf as pdf_module
from ossrag.ingest.parsers.html import html_to_text
from ossrag.types import RawSource, Skipped
from pdf_bytes import pdf_bytes


def _split(items: SourceSet) -> tuple[dict[str, RawSource], dict[str, str]]:
    raws: dict[str, RawSource] = {}
    skipped: dict[str, str] = {}
    for item in items:
        if isinstance(item, Skipped):
            skipped[item.source] = item.reason
        else:
            raws[item.source] = item
    return raws, skipped


def _raw(data: bytes, fmt: str, name: str = "x") -> RawSource:
    return RawSource("/docs", f"{name}.{fmt}", data, fmt)


def make_pdf(*streams: bytes) -> bytes:
    """A valid PDF, one FlateDecode content stream per page (so a slow PDF stays small)."""
    return pdf_bytes(list(streams), compress=True)


def text_pdf(text: str) -> bytes:
    return make_pdf(b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1"))


def slow_pdf(ops: int = 300_000) -> bytes:
    """29 KB on disk; pypdf needs ~100 us per text operation: about 30 s for the default."""
    return make_pdf(b"BT /F1 12 Tf 72 720 Td (x) Tj ET\n" * ops)


# ---------------------------------------------------------------- binary behind a text name

BINARIES = {
    "png.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
    "elf.txt": b"\x7fELF\x02\x01\x01\x00" + bytes(200) + b"GCC: (Debian)",
    "zip.html": None,  # filled in below: a real zip archive
    # 20 KB of honest Markdown, then a binary tail: the head alone looks like text.
    "tail.md": b"# Notes\n\n" + b"A line of honest text.\n" * 1000 + b"\x00\x01\x02\xff" * 500,
}


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", os.urandom(4096))
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_binary_content_behind_a_text_extension_is_skipped(name: str) -> None:
    """Guards: binaries renamed .md/.txt/.html are refused by content (NUL/control bytes anywhere
    in the file, not only its first 8 KiB), never decoded into junk passages."""
    data = BINARIES[name] or _zip_bytes()
    fmt = {"md": "markdown", "txt": "text", "html": "html"}[name.rsplit(".", 1)[1]]
    with pytest.raises(LoadError, match="looks like a binary file") as err:
        parse(RawSource("/d", name, data, fmt))
    assert "offset" in err.value.message and err.value.hint


# ---------------------------------------------------------------- encodings

ENCODED = [
    # (bytes, expected text, the note's start)
    (
        "# Café\n\nCrème brûlée, déjà vu.\n".encode("latin-1"),
        "Crème brûlée, déjà vu.",
        "not UTF-8: decoded as Windows-1252",
    ),
    (
        "# “Quotes”\n\nA € sign – and naïve.\n".encode("cp1252"),
        "A € sign – and naïve.",
        "not UTF-8: decoded as Windows-1252",
    ),
    (
        ("# Привет\n\nЭто документ о базе данных Milvus. " * 4).encode("cp1251"),
        "Это документ о базе данных Milvus.",
        "not UTF-8: decoded as Windows-1251",
    ),
    # Mostly UTF-8 with a Latin-1 paragraph pasted in: each part read as what it is.
    (
        "# Résumé\n\nUTF-8: naïve.\n".encode() + "Latin-1: crème brûlée.\n".encode("latin-1"),
        "UTF-8: naïve.\nLatin-1: crème brûlée.",
        "mixed encodings: 3 byte sequence(s)",
    ),
]


@pytest.mark.parametrize(("data", "expected", "note"), ENCODED)
def test_invalid_utf8_and_mixed_encodings_are_decoded_and_the_note_says_how(
    data: bytes, expected: str, note: str
) -> None:
    """Guards: text that is not UTF-8 is decoded by the documented fallback (charset-normalizer,
    Windows-1252 for Western text, per-byte for mixed files), never refused or silently garbled:
    the Document (and the ingest report) carries the note."""
    doc = parse(_raw(data, "markdown"))
    assert expected in doc.text
    assert doc.metadata["decoding"].startswith(note)


def test_utf8_and_bom_files_carry_no_note() -> None:
    """Guards: the fallback never touches valid UTF-8 / UTF-16 with a BOM (no false notes)."""
    for data in ("# Ünïcode ✓\n\ntext\n".encode(), "# Wide\n\ncafé\n".encode("utf-16")):
        doc = parse(_raw(data, "markdown"))
        assert "decoding" not in doc.metadata and doc.title in ("Ünïcode ✓", "Wide")


def test_high_bytes_without_any_line_break_are_not_text() -> None:
    """Guards: 8 KiB of bytes >= 0x80 with no space or newline (no NULs, so the binary sniff
    passes) are refused rather than 'detected' as some CJK encoding."""
    data = bytes((i * 37) % 128 + 128 for i in range(9000))
    with pytest.raises(LoadError, match="no space or line break"):
        parse(_raw(data, "text"))


# ---------------------------------------------------------------- empty files


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"", "markdown"),
        (b" \n\t\n", "text"),
        (b"\xef\xbb\xbf\n", "markdown"),
        (b"<html><body>  </body></html>", "html"),
        (b"", "pdf"),
        (b"---\ntitle: x\n---\n", "markdown"),
    ],
)
def test_empty_files_are_skipped_with_a_reason(data: bytes, fmt: str) -> None:
    """Guards: empty or whitespace-only files (every format) give a reason, not an empty passage."""
    with pytest.raises(LoadError, match=r"empty|no text|cannot read PDF"):
        parse(_raw(data, fmt))


# ---------------------------------------------------------------- huge files


def test_max_file_bytes_from_limits_settings_and_environment(tmp_path: Path) -> None:
    """Guards: the size limit is configurable (IngestLimits, Settings, OSSRAG_MAX_FILE_BYTES)
    and files over it are skipped before being read."""
    (tmp_path / "big.md").write_text("# Big\n\n" + "x" * 5000)
    (tmp_path / "small.md").write_text("# Small\n\nok\n")
    env_limits = Settings.load(
        env={"OSSRAG_MAX_FILE_BYTES": "4KB"}, config_path=tmp_path / "none.toml"
    ).ingest_limits()
    assert env_limits.max_file_bytes == 4096
    for limits in (IngestLimits(max_file_bytes=4096), env_limits):
        raws, skipped = _split(discover(str(tmp_path), limits=limits))
        assert set(raws) == {"small.md"}
        assert (
            skipped["big.md"].startswith("file too large") and "max_file_bytes" in skipped["big.md"]
        )
    raws, _ = _split(discover(str(tmp_path)))  # the default (50 MiB) reads both
    assert set(raws) == {"big.md", "small.md"}


# ---------------------------------------------------------------- PDFs that hang or crash


@pytest.mark.timeout(120)
def test_a_pdf_that_hangs_the_parser_is_stopped_at_the_time_limit() -> None:
    """Guards: parse_timeout really stops pypdf (a child process is killed; a thread could not
    be): a 29 KB PDF that takes pypdf ~30 s is skipped after 1.5 s, and the next PDF parses."""
    limits = IngestLimits(parse_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(LoadError, match=r"took longer than 1.5s \(parse_timeout\)") as err:
        parse(_raw(slow_pdf(), "pdf"), limits=limits)
    assert time.monotonic() - started < 10
    assert "parse_timeout" in (err.value.hint or "")
    assert (
        parse(_raw(text_pdf("After the hang"), "pdf"), limits=limits).text.strip()
        == "After the hang"
    )


@pytest.mark.timeout(120)
def test_a_pdf_parser_crash_is_reported_and_the_next_pdf_parses() -> None:
    """Guards: a crash of the parser (here its process killed by SIGSEGV mid-parse, as a native
    crash would) is one skipped file with the reason, not a dead ingestion run."""
    parse(_raw(text_pdf("warm up"), "pdf"))  # the child is running
    pid = pdf_module.worker_pid()
    assert pid is not None and pid != os.getpid()
    timer = threading.Timer(1.0, os.kill, args=(pid, signal.SIGSEGV))
    timer.start()
    try:
        with pytest.raises(LoadError, match=r"crashed \(killed by SIGSEGV\)"):
            parse(_raw(slow_pdf(), "pdf"), limits=IngestLimits(parse_timeout=60))
    finally:
        timer.cancel()
    assert parse(_raw(text_pdf("Alive again"), "pdf")).text.strip() == "Alive again"
    assert pdf_module.worker_pid() not in (None, pid)


@pytest.mark.timeout(120)
def test_ctrl_c_during_a_pdf_does_not_leave_its_reply_for_the_next_one() -> None:
    """Guards: an interrupted PDF (Ctrl-C while pypdf works) stops its child; otherwise the
    child's late reply, the slow PDF's text, would be read as the next PDF's."""
    main = threading.get_ident()
    timer = threading.Timer(1.0, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        parse(_raw(slow_pdf(), "pdf"), limits=IngestLimits(parse_timeout=60))
    started = time.monotonic()
    assert parse(_raw(text_pdf("After Ctrl-C"), "pdf")).text.strip() == "After Ctrl-C"
    assert time.monotonic() - started < 10


def test_the_pdf_child_exits_with_its_parent(tmp_path: Path) -> None:
    """Guards: no orphaned parser: a parent killed mid-PDF (SIGKILL) takes the child with it."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, threading, os\n"
        "from ossrag.ingest.parsers import pdf\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_untrusted_files import slow_pdf\n"
        "threading.Thread(target=pdf.pdf_to_text, args=(slow_pdf(),), daemon=True).start()\n"
        "import time\n"
        "while pdf.worker_pid() is None: time.sleep(0.05)\n"
        "print(pdf.worker_pid(), flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- zip bombs


def _zip(path: Path, entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_zip_entry_with_a_bomb_ratio_is_skipped_before_inflating(tmp_path: Path) -> None:
    """Guards: zip_max_ratio: a 40 MB entry of zeros (40 KB compressed, ~1000:1) is skipped from
    its directory record, before a byte is inflated; normal text in the same zip is read."""
    arc = _zip(tmp_path / "bomb.zip", {"zeros.md": b"0" * (40 << 20), "ok.md": b"# OK\n\nfine\n"})
    raws, skipped = _split(discover(str(arc)))
    assert set(raws) == {"ok.md"}
    assert (
        skipped["zeros.md"].startswith("zip bomb? compression ratio")
        and "declared" in skipped["zeros.md"]
    )


def test_zip_entry_whose_header_lies_is_not_inflated_past_it(tmp_path: Path) -> None:
    """Guards: sizes in the directory can lie; an entry that says 1 KB but holds 5 MB is cut at
    what it declared (its CRC then fails): skipped, never 5 MB in memory.  zipfile itself stops
    at the declared size; the checks on declared sizes rely on that, so this pins it (ossrag's
    own checks on the inflated bytes are a second line behind it)."""
    arc = _zip(tmp_path / "liar.zip", {"liar.md": b"# x\n" + b"y" * (5 << 20)})
    data = bytearray(arc.read_bytes())
    real = (5 << 20) + 4
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # local header and directory record
        pos = data.find(sig)
        size_at = pos + (22 if sig == b"PK\x03\x04" else 24)
        assert int.from_bytes(data[size_at : size_at + 4], "little") == real
        data[size_at : size_at + 4] = (1024).to_bytes(4, "little")
    arc.write_bytes(bytes(data))
    raws, skipped = _split(discover(str(arc)))
    assert not raws
    assert skipped["liar.md"].startswith("cannot read zip entry") and "CRC" in skipped["liar.md"]


def test_zip_with_too_many_entries_is_refused_before_its_directory_is_loaded(
    tmp_path: Path,
) -> None:
    """Guards: zip_max_entries, checked on the end-of-directory record: the archive is refused
    as a whole with one reason (not one line per entry)."""
    arc = _zip(tmp_path / "many.zip", {f"d/{i}.md": b"# x\n\ny\n" for i in range(300)})
    items = list(discover(str(arc), limits=IngestLimits(zip_max_entries=100)))
    assert items == [Skipped(str(arc), "many.zip", items[0].reason)]
    assert "300 entries, over the limit of 100 (zip_max_entries)" in items[0].reason


def test_zip_whose_entries_inflate_past_the_total_is_refused(tmp_path: Path) -> None:
    """Guards: zip_max_bytes on the declared total of the entries that would be read."""
    arc = _zip(
        tmp_path / "total.zip", {f"{i}.md": os.urandom(300_000).hex().encode() for i in range(4)}
    )
    items = list(discover(str(arc), limits=IngestLimits(zip_max_bytes=2 << 20)))
    assert len(items) == 1 and isinstance(items[0], Skipped)
    assert "would inflate to 2.3 MiB, over the limit of 2.0 MiB (zip_max_bytes)" in items[0].reason
    # Entries the include pattern leaves out do not count.
    raws, skipped = _split(
        discover(str(arc), include=["0.md"], limits=IngestLimits(zip_max_bytes=2 << 20))
    )
    assert set(raws) == {"0.md"} and not skipped


def test_a_zip_inside_a_zip_is_not_opened(tmp_path: Path) -> None:
    """Guards: nested archives (42.zip style) are never recursed into."""
    inner = _zip_bytes()
    arc = _zip(tmp_path / "outer.zip", {"inner.zip": inner, "a.md": b"# A\n\na\n"})
    raws, skipped = _split(discover(str(arc)))
    assert set(raws) == {"a.md"} and skipped == {"inner.zip": "unsupported format .zip"}


# ---------------------------------------------------------------- escaping the target


def test_zip_entries_that_escape_or_are_symlinks_are_skipped(tmp_path: Path) -> None:
    """Guards: '../', absolute, drive-letter and backslash names, and symlink entries (whose
    'content' is a path like ../../etc/passwd) are refused, and so are encrypted entries;
    nothing is written anywhere."""
    arc = tmp_path / "evil.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for name in ("../up.md", "/abs.md", "C:/win.md", "a/..\\..\\back.md", "ok.md"):
            zf.writestr(name, b"# x\n\ntext\n")
        link = zipfile.ZipInfo("link.md")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, b"../../../../etc/passwd")
        zf.writestr("locked.md", b"# x\n\nsecret\n")
    # zipfile cannot write encrypted entries: set the "encrypted" flag bit of the last one.
    data = bytearray(arc.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.rfind(sig)
        data[pos + flag_at] |= 0x1
    arc.write_bytes(bytes(data))
    before = sorted(tmp_path.parent.rglob("*"))
    raws, skipped = _split(discover(str(arc)))
    assert set(raws) == {"ok.md"}
    assert skipped["locked.md"] == "encrypted zip entry (ossrag does not ask for passwords)"
    for name in ("../up.md", "/abs.md", "C:/win.md", "a/..\\..\\back.md"):
        assert skipped[name].startswith("unsafe path in zip"), name
    assert skipped["link.md"] == "a symlink in the zip (not followed)"
    assert sorted(tmp_path.parent.rglob("*")) == before


def test_symlinks_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    """Guards: a symlinked file or directory pointing outside the ingested folder is skipped
    with the reason (its target never read); a symlink inside the folder is followed."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "passwd.md").write_text("# Secret\n\nroot:x:0:0\n")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "real.md").write_text("# Real\n\ntext\n")
    (root / "leak.md").symlink_to(secret / "passwd.md")
    (root / "leakdir").symlink_to(secret, target_is_directory=True)
    (root / "alias.md").symlink_to(root / "real.md")
    for spec in (str(root), f"{root}/**/*.md"):
        raws, skipped = _split(discover(spec))
        assert set(raws) == {"real.md", "alias.md"}, spec
        assert raws["alias.md"].data == b"# Real\n\ntext\n"
        assert skipped["leak.md"].startswith("symlink to a file outside the ingested folder")
        if spec == str(root):
            assert skipped["leakdir"].startswith("symlink to a directory outside")
        assert all(b"root:x" not in r.data for r in raws.values())


@pytest.mark.timeout(30)
def test_a_fifo_in_the_folder_is_skipped_not_read(tmp_path: Path) -> None:
    """Guards: opening a FIFO for reading blocks forever; it is skipped as not a regular file."""
    (tmp_path / "a.md").write_text("# A\n\na\n")
    os.mkfifo(tmp_path / "pipe.md")
    raws, skipped = _split(discover(str(tmp_path)))
    assert set(raws) == {"a.md"} and skipped == {"pipe.md": "not a regular file (a FIFO)"}


# ---------------------------------------------------------------- HTML that hides text

HIDDEN = {
    "script": "<script>var x = 'CANARY'</script>",
    "style": "<style>.a::after { content: 'CANARY' }</style>",
    "template": "<template><p>CANARY</p></template>",
    "noscript": "<noscript>CANARY</noscript>",
    "hidden attribute": "<div hidden><p>CANARY</p></div>",
    "aria-hidden": '<p aria-hidden="true">CANARY</p>',
    "display:none": '<span style="color: red; display : none">CANARY</span>',
    "visibility:hidden": '<span style="visibility:hidden">CANARY</span>',
    "opacity:0": '<span style="opacity: 0 !important">CANARY</span>',
    "font-size:0": '<span style="font-size:0px">CANARY</span>',
    "closed dialog": "<dialog><p>CANARY</p></dialog>",
    "comment": "<!-- CANARY -->",
}


@pytest.mark.parametrize("how", sorted(HIDDEN))
def test_html_text_a_reader_cannot_see_is_not_indexed(how: str) -> None:
    """Guards: text hidden from readers (where injected instructions hide) never reaches the
    index; the visible text around it does."""
    page = (
        f"<html><head><title>T</title></head><body><main><h1>Visible</h1>"
        f"<p>Milvus stores data.</p>{HIDDEN[how]}<p style='opacity:0.5'>Also seen.</p>"
        f"</main></body></html>"
    )
    text, _, _ = html_to_text(page)
    assert "CANARY" not in text
    assert "Milvus stores data." in text and "Also seen." in text


# ---------------------------------------------------------------- nothing indexed is lost


GOOD = {
    "a.md": b"# Alpha\n\nAlpha keeps its data in object storage.\n",
    "b.md": b"# Beta\n\nBeta is about the weather in Lisbon.\n",
    "c.pdf": text_pdf("Gamma is a PDF about pasta"),
    "d.txt": b"Delta is a text file about trains.\n",
    "e.md": b"# Epsilon\n\nEpsilon is about bees.\n",
}


@pytest.mark.timeout(300)
def test_hostile_versions_of_indexed_files_lose_nothing(tmp_path: Path) -> None:
    """Guards: "a broken file is reported and skipped and never deletes what was indexed
    before": each indexed file replaced by a hostile version (binary, slow PDF, over the size
    limit, symlink out, FIFO) is skipped with its reason and keeps its chunks; a zip refused
    as a whole keeps all of its entries.  Limits come through kb.ingest(limits=...)."""
    root = tmp_path / "docs"
    root.mkdir()
    for name, data in GOOD.items():
        (root / name).write_bytes(data)
    arc = _zip(tmp_path / "pack.zip", {"z1.md": b"# Z1\n\nzebras\n", "z2.md": b"# Z2\n\nzinc\n"})
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="t") as kb:
        first = kb.ingest(str(root), str(arc))
        assert first.added == 7 and not first.skipped, first.summary()
        before = kb.store.source_index(kb.name)
        count = kb.store.count(kb.name)

        (root / "a.md").write_bytes(b"# Alpha\n\n" + bytes(range(256)) * 16)
        (root / "c.pdf").write_bytes(slow_pdf())
        (root / "d.txt").write_bytes(b"Delta " * 8000)
        (root / "e.md").unlink()
        (root / "e.md").symlink_to(tmp_path / "pack.zip")
        (root / "b.md").unlink()
        os.mkfifo(root / "b.md")
        _zip(arc, {f"z{i}.md": b"# Z\n\nz\n" for i in range(50)})

        report = kb.ingest(
            str(root),
            str(arc),
            limits={"max_file_bytes": 40_000, "parse_timeout": 1.5, "zip_max_entries": 20},
        )
        reasons = {s.source: s.reason for s in report.skipped}
        assert set(reasons) == {"a.md", "b.md", "c.pdf", "d.txt", "e.md", "pack.zip"}, reasons
        assert "binary" in reasons["a.md"]
        assert reasons["b.md"] == "not a regular file (a FIFO)"
        assert "parse_timeout" in reasons["c.pdf"]
        assert "max_file_bytes" in reasons["d.txt"]
        assert reasons["e.md"].startswith("symlink to a file outside")
        assert "zip_max_entries" in reasons["pack.zip"]
        assert (report.added, report.updated, report.removed, report.chunks_deleted) == (0, 0, 0, 0)
        assert kb.store.count(kb.name) == count
        assert kb.store.source_index(kb.name) == before


# ---------------------------------------------------------------- the CLI shows it all


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(600)
def test_cli_reports_each_skip_and_note_in_the_summary_and_json(tmp_path: Path) -> None:
    """Guards: every reason reaches the user: stderr lines with the plain summary, "skipped"
    and "notes" in --json; the limits work as flags (--max-file-bytes, --parse-timeout) and as
    OSSRAG_* variables."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "ok.md").write_text("# OK\n\nPlain text.\n")
    (root / "latin.md").write_bytes("# Café\n\nCrème brûlée.\n".encode("latin-1"))
    (root / "bin.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00" * 10)
    (root / "empty.txt").write_bytes(b"")
    (root / "big.md").write_text("# Big\n\n" + "b " * 20000)
    (root / "slow.pdf").write_bytes(slow_pdf())
    db = str(tmp_path / "c.db")
    proc = _cli(
        "--db",
        db,
        "ingest",
        str(root),
        "--json",
        "--max-file-bytes",
        "32KB",
        "--parse-timeout",
        "1.5",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    reasons = {s["source"]: s["reason"] for s in data["skipped"]}
    assert set(reasons) == {"bin.md", "empty.txt", "big.md", "slow.pdf"}
    assert "binary" in reasons["bin.md"] and "empty" in reasons["empty.txt"]
    assert "max_file_bytes" in reasons["big.md"] and "parse_timeout" in reasons["slow.pdf"]
    assert [(n["source"], n["note"][:30]) for n in data["notes"]] == [
        ("latin.md", "not UTF-8: decoded as Windows-")
    ]
    assert data["added"] == 2

    (root / "latin.md").write_bytes("# Café\n\nCrème brûlée, encore.\n".encode("latin-1"))
    plain = _cli(
        "--db",
        db,
        "ingest",
        str(root),
        cwd=tmp_path,
        env={"OSSRAG_MAX_FILE_BYTES": "32KB", "OSSRAG_PARSE_TIMEOUT": "1.5"},
    )
    assert plain.returncode == 0, plain.stderr
    assert "updated 1" in plain.stdout and "skipped 4" in plain.stdout
    assert "1 with a note" in plain.stdout
    for line in (
        "skipped big.md: file too large",
        "skipped bin.md: looks like a binary file",
        "note latin.md: not UTF-8: decoded as Windows-1252",
    ):
        assert line in plain.stderr, plain.stderr
