"""Bytes to clean text, and helpers every parser shares.

    text = decode(data, "markdown")     # raises LoadError: empty, binary, not UTF-8
    looks_binary(data[:8192])           # True for executables, images, archives

``REOPEN`` marks a place where a list of terms (a glossary, a definition list,
API descriptions) ended inside a section: each term became a heading one level
below the section, so text after the list would otherwise land under the last
term.  :func:`reopen_sections` turns each mark into the section's heading
again when more text follows, and drops it when the next thing is a heading.
"""

from __future__ import annotations

import re

from ossrag.errors import LoadError

__all__ = ["REOPEN", "clean_heading", "clean_text", "decode", "looks_binary", "reopen_sections"]

REOPEN = "\x00"  # a line "\x00## Section" means: back in "Section" (see the module doc)
_ATX_LINE = re.compile(r"^#{1,6} \S")


def looks_binary(data: bytes) -> bool:
    """True when the first 8 KiB of ``data`` are not text in any common encoding."""
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    # Control characters other than tab, newlines, form feed and escape are
    # rare in any text encoding (including latin-1) but common in binaries.
    controls = sum(1 for b in sample if b < 32 and b not in (8, 9, 10, 12, 13, 27))
    return controls > len(sample) * 0.05


def decode(data: bytes, fmt: str) -> str:
    """UTF-8 (or UTF-16 with a BOM, or an HTML page's declared charset) text with ``\\n`` newlines."""
    if not data.strip():
        raise LoadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Windows editors)
        try:
            return clean_text(data.decode("utf-16"))
        except UnicodeDecodeError:
            pass
    if looks_binary(data):
        raise LoadError(
            "looks like a binary file, not " + ("text" if fmt == "text" else f"{fmt} text"),
            hint="exclude it with --exclude, or give it its proper extension",
        )
    try:
        return clean_text(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        if fmt == "html":  # an HTML page may declare its own charset
            m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", data[:4096], re.IGNORECASE)
            if m:
                try:
                    return clean_text(data.decode(m.group(1).decode("ascii")))
                except (LookupError, UnicodeDecodeError):
                    pass
        raise LoadError(
            f"not valid UTF-8 text (first bad byte at offset {exc.start})",
            hint="convert it to UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        ) from exc


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
