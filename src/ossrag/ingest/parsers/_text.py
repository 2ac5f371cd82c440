"""Bytes to clean text, and helpers every parser shares.

    text, note = decode_text(data, "markdown")  # raises LoadError: empty, binary
    note      # '' for UTF-8, else what was done: 'not UTF-8: decoded as Windows-1252 (...)'
    binary_reason(data)                 # 'NUL bytes at offset 4096', or None for text

``REOPEN`` marks a place where a list of terms (a glossary, a definition list,
API descriptions) ended inside a section: each term became a heading one level
below the section, so text after the list would otherwise land under the last
term.  :func:`reopen_sections` turns each mark into the section's heading
again when more text follows, and drops it when the next thing is a heading.
"""

from __future__ import annotations

import codecs
import re

from ossrag.errors import LoadError

__all__ = [
    "REOPEN",
    "binary_reason",
    "clean_heading",
    "clean_text",
    "decode",
    "decode_text",
    "looks_binary",
    "reopen_sections",
]

REOPEN = "\x00"  # a line "\x00## Section" means: back in "Section" (see the module doc)
_ATX_LINE = re.compile(r"^#{1,6} \S")


# Bytes that are rare in text of any encoding but common in binaries: C0 controls
# other than backspace, tab, newlines, form feed and escape.
_CONTROLS = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13, 27))
_WINDOW = 8192
_WINDOWS = 16  # samples spread over a file: a dense binary region is found anywhere


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` is not text (NUL or control bytes, and where), or None.

    A NUL byte anywhere (the whole file is searched: a binary tail or middle
    counts too), more than 5% control bytes in any of 16 windows of 8 KiB
    spread over the file, or more than 1% in a file larger than one window (a
    small file is its own window: a few terminal escapes, each ended by a BEL,
    are text with hostile bytes, not a binary).  UTF-16/32
    without a BOM is read as binary.

    >>> binary_reason(b"# Title\n\ntext\n"), binary_reason(b"# T\n" + bytes(range(256)))
    (None, 'NUL bytes at offset 4')
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        return f"NUL bytes at offset {nul}"
    if len(data) <= _WINDOW:
        offsets = [0]
    else:
        last = len(data) - _WINDOW
        offsets = sorted({round(i * last / (_WINDOWS - 1)) for i in range(_WINDOWS)})
    for off in offsets:
        window = data[off : off + _WINDOW]
        controls = len(window) - len(window.translate(None, _CONTROLS))
        if controls > len(window) * 0.05:
            return f"{controls} control bytes in the {len(window)} bytes at offset {off}"
    controls = len(data) - len(data.translate(None, _CONTROLS))
    if len(data) > _WINDOW and controls > len(data) * 0.01:
        return f"{controls} control bytes in {len(data)}"
    return None


def looks_binary(data: bytes) -> bool:
    """True when ``data`` is not text in any common encoding (see :func:`binary_reason`)."""
    return binary_reason(data) is not None


def decode(data: bytes, fmt: str) -> str:
    """The text of ``data`` (see :func:`decode_text`), without the note on how it was decoded."""
    return decode_text(data, fmt)[0]


def decode_text(data: bytes, fmt: str) -> tuple[str, str]:
    """(text with ``\n`` newlines, note): UTF-8, else a documented fallback, never silently.

    In order: UTF-8 (a BOM is dropped); UTF-16/32 with a BOM; an HTML page's
    declared ``<meta charset>``.  Else the note says what was done:

    * mostly UTF-8 with a few bytes that are not (mixed encodings, e.g. a
      Latin-1 paragraph pasted into a UTF-8 file): those bytes are read as
      Windows-1252, the rest as UTF-8;
    * no UTF-8 at all: the encoding charset-normalizer detects (Windows-1252
      when it decodes the bytes to the same text or as cleanly as the best
      guess: it is what legacy Western text is, and what browsers assume);
    * nothing detected: UTF-8 with each bad byte replaced by U+FFFD.

    Empty files and binaries (:func:`binary_reason`) raise LoadError, and so
    does a decoded text that is more than 5% replacement or control characters.

    >>> decode_text("Crème brûlée".encode("latin-1"), "text")
    ('Crème brûlée', 'not UTF-8: decoded as Windows-1252 (detected by charset-normalizer)')
    """
    if not data.strip():
        raise LoadError("empty file")
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):  # Windows editors write UTF-16 with a BOM
            try:
                return clean_text(data.decode(codec)), ""
            except UnicodeDecodeError:
                break
    what = "text" if fmt == "text" else f"{fmt} text"
    why = binary_reason(data)
    if why:
        raise LoadError(
            f"looks like a binary file, not {what} ({why})",
            hint="exclude it with --exclude, or give it its proper extension",
        )
    try:
        return clean_text(data.decode("utf-8-sig")), ""
    except UnicodeDecodeError:
        pass
    if fmt == "html":  # a page may declare its own charset
        m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", data[:4096], re.IGNORECASE)
        if m:
            try:
                return clean_text(data.decode(m.group(1).decode("ascii"))), ""
            except (LookupError, UnicodeDecodeError):
                pass
    text, note = _fallback(data)
    junk = sum(text.count(c) for c in "\ufffd") + len(_JUNK.findall(text))
    if junk > len(text) * 0.05:
        raise LoadError(
            f"not {what}: {junk} of {len(text)} characters are unreadable after decoding ({note})",
            hint="convert it to UTF-8, e.g. iconv -f ENCODING -t utf-8 FILE > FILE.utf8",
        )
    return clean_text(text), note


_JUNK = re.compile(r"[\x00-\x07\x0e-\x1a\x1c-\x1f\x7f-\x9f]")  # C0 (not whitespace/ESC) and C1


def _cp1252_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 read as Windows-1252 (Latin-1 for its holes)."""
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start : exc.end]
    return "".join(_cp1252_char(b) for b in bad), exc.end


def _cp1252_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


codecs.register_error("ossrag-cp1252", _cp1252_bytes)


def _fallback(data: bytes) -> tuple[str, str]:
    """(text, note) of bytes that are not UTF-8; see :func:`decode_text`."""
    if len(data) >= 1024 and not re.search(rb"[ \t\n]", data[:_WINDOW]):
        raise LoadError("not text: not UTF-8, and no space or line break in its first 8 KiB")
    replaced = data.decode("utf-8", "replace")
    bad = replaced.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    good = sum(1 for c in replaced if c > "\x7f" and c != "\ufffd")
    # Valid multi-byte UTF-8 next to bytes that are not: mixed encodings. Text in a
    # legacy encoding forms valid UTF-8 sequences only by accident, and rarely.
    if good and good * 4 >= bad:
        return (
            data.decode("utf-8", "ossrag-cp1252"),
            f"mixed encodings: {bad} byte sequence(s) that are not UTF-8 read as Windows-1252",
        )
    try:
        import charset_normalizer
    except ImportError:  # declared, but a minimal install may lack it
        charset_normalizer = None  # type: ignore[assignment]
    if charset_normalizer is not None:
        matches = charset_normalizer.from_bytes(data)
        best = matches.best()
        if best is not None:
            codec = best.encoding
            western = next((m for m in matches if m.encoding == "cp1252"), None)
            if "cp1252" in best.could_be_from_charset or (
                western is not None and western.chaos <= best.chaos
            ):
                codec = "cp1252"
            name = _CODEC_NAMES.get(codec, codec)
            return (
                data.decode(codec, "replace"),
                f"not UTF-8: decoded as {name} (detected by charset-normalizer)",
            )
    return replaced, f"not valid UTF-8: {bad} byte sequence(s) replaced with U+FFFD"


_CODEC_NAMES = {
    "cp1252": "Windows-1252",
    "cp1250": "Windows-1250",
    "cp1251": "Windows-1251",
    "latin_1": "Latin-1",
    "gb18030": "GB18030",
    "cp932": "Shift_JIS (cp932)",
    "big5": "Big5",
    "euc_jp": "EUC-JP",
    "euc_kr": "EUC-KR",
    "koi8_r": "KOI8-R",
}


def clean_text(text: str) -> str:
    """Unix newlines and no NUL characters (NUL is :data:`REOPEN`'s marker)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def clean_heading(text: str) -> str:
    """Heading text on one line, without permalink marks (Sphinx's ``¶``, ``§``, ``🔗``)."""
    text = " ".join(text.split())
    return re.sub(r"(?:\s*[¶§\U0001f517])+$", "", text).strip()


def reopen_sections(text: str) -> str:
    """Resolve :data:`REOPEN` marks: the section heading again before more text, else nothing.

    >>> reopen_sections("# A\\n\\n## term\\n\\ndef\\n\\x00# A\\n\\nmore\\n")
    '# A\\n\\n## term\\n\\ndef\\n# A\\n\\nmore\\n'
    >>> reopen_sections("## term\\n\\ndef\\n\\x00# A\\n\\n# B\\n")
    '## term\\n\\ndef\\n\\n# B\\n'
    """
    if REOPEN not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line.startswith(REOPEN):
            out.append(line)
            continue
        nxt = next((x for x in lines[i + 1 :] if x.strip()), "")
        if nxt and not nxt.startswith(REOPEN) and not _ATX_LINE.match(nxt):
            out.append(line[1:])
    return "\n".join(out)
