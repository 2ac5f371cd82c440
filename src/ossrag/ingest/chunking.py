"""Cut documents into passages that carry their heading path.

    from ossrag.ingest.chunking import chunk_document

    chunks = chunk_document(doc)                     # splitter="auto"
    chunks[3].heading    # 'Product FAQ > Where does Milvus store data?'
    chunks[3].text       # the section body, without its heading line
    chunks[3].embed_text # heading + body: what the embedder sees

Splitters:

- ``markdown`` (auto for markdown, html, rst): one chunk per section between
  headings (ATX ``#`` and setext ``===``/``---``; ``#`` lines inside fenced
  code are code, not headings).  Tiny sections are never merged, so every FAQ
  entry stays its own passage under its own question.  Sections longer than
  ``chunk_size`` characters are split at blank lines, then lines, sentences,
  words; a fenced code block stays whole when it fits and is otherwise split
  at line boundaries, each piece re-fenced.  Each piece after the first starts
  with up to ``chunk_overlap`` characters from the end of the one before.
- ``paragraph`` (auto for text and pdf): the whole text packed by paragraphs
  the same way, under the document title.
- ``tutorial``: the tutorial's ``text.split("# ")``, for comparisons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ossrag.errors import ConfigError
from ossrag.ingest.parsers import split_front_matter
from ossrag.types import Chunk, Document

__all__ = ["SPLITTERS", "chunk_document", "is_meaningful", "split_text"]

SPLITTERS = ("auto", "markdown", "paragraph", "tutorial")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:[-*+>|<]|\d+[.)]\s|$)")  # list, quote, table, html, blank
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


def chunk_document(
    doc: Document,
    *,
    splitter: str = "auto",
    chunk_size: int = 1200,
    chunk_overlap: int = 150,
) -> list[Chunk]:
    """Chunks of ``doc`` in document order, ``chunk_index`` 0..n-1.

    ``metadata`` holds ``title`` when the document has one and ``section_part``
    (``"2/3"``) for pieces of a split section.  ``chunk_overlap`` is capped at
    half of ``chunk_size``; sizes are in characters.  Raises ConfigError for an
    unknown splitter, a ``chunk_size`` below 50 or an overlap outside
    ``0 <= overlap < chunk_size``.

    The ``tutorial`` splitter is the tutorial's ``text.split("# ")`` with two
    documented differences: it runs on ``doc.text``, which for Markdown no
    longer holds the YAML front matter (the tutorial split the raw file), and
    it drops pieces that are empty or whitespace only (the tutorial kept them,
    embedding empty strings).  Pieces keep their text exactly otherwise, and
    get no heading.
    """
    if splitter not in SPLITTERS:
        raise ConfigError(
            f"unknown splitter {splitter!r}", hint="use one of: " + ", ".join(SPLITTERS)
        )
    if chunk_size < 50:
        raise ConfigError(
            f"chunk size {chunk_size} is too small", hint="use at least 50 characters"
        )
    if not 0 <= chunk_overlap < chunk_size:
        raise ConfigError(
            f"chunk overlap {chunk_overlap} must be at least 0 and below the chunk size {chunk_size}",
            hint="e.g. --chunk-size 1200 --chunk-overlap 150",
        )
    # A large overlap would make every piece mostly a copy of the one before
    # (and the default 150 would choke a small --chunk-size): cap it at half.
    chunk_overlap = min(chunk_overlap, chunk_size // 2)
    if splitter == "auto":
        splitter = "markdown" if doc.fmt in ("markdown", "html", "rst") else "paragraph"

    if splitter == "tutorial":
        texts = [p for p in doc.text.split("# ") if p.strip()]
        return [Chunk(t, "", i, _meta(doc, None)) for i, t in enumerate(texts)]

    if splitter == "markdown":
        _, text = split_front_matter(doc.text)  # parse() removed it; be safe for hand-made docs
        sections = _sections(text, doc.title)
    else:
        sections = [(doc.title, doc.text)]

    chunks: list[Chunk] = []
    for heading, body in sections:
        if not is_meaningful(body):
            continue
        pieces = split_text(body, chunk_size, chunk_overlap)
        for n, piece in enumerate(pieces, 1):
            part = f"{n}/{len(pieces)}" if len(pieces) > 1 else None
            chunks.append(Chunk(piece, heading, len(chunks), _meta(doc, part)))
    return chunks


def _meta(doc: Document, part: str | None) -> dict[str, str]:
    meta = {"title": doc.title} if doc.title else {}
    if part:
        meta["section_part"] = part
    return meta


def is_meaningful(text: str) -> bool:
    """False for text that is only whitespace, separators, HTML comments, tags or
    template placeholders (``{{tab}}``, ``{{fragments/x.md}}``, ``{% raw %}``)."""
    text = re.sub(r"<!--.*?(?:-->|\Z)", " ", text, flags=re.S)
    text = re.sub(r"\{\{[^{}]*\}\}|\{%.*?%\}", " ", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", " ", text)
    return re.search(r"[^\W_]", text) is not None  # a letter or digit


# ---------------------------------------------------------------- sections


def _sections(text: str, title: str) -> list[tuple[str, str]]:
    """(heading path, body) for each section; text before the first heading goes under the title."""
    sections: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    path = title
    fence: str | None = None
    lines = text.split("\n")

    def close(new_level: int, new_title: str) -> None:
        nonlocal path, body
        sections.append((path, "\n".join(body)))
        while stack and stack[-1][0] >= new_level:
            stack.pop()
        stack.append((new_level, new_title))
        path = " > ".join(t for _, t in stack)
        body = []

    for i, line in enumerate(lines):
        fm = _FENCE.match(line)
        if fence is not None:
            if fm and _closes(fm, fence):
                fence = None
            body.append(line)
            continue
        if fm and not (fm.group(1)[0] == "`" and "`" in fm.group(2)):
            fence = fm.group(1)
            body.append(line)
            continue
        atx = _ATX.match(line)
        if atx and _clean_heading(atx.group(2)):
            close(len(atx.group(1)), _clean_heading(atx.group(2)))
            continue
        setext = _SETEXT.match(line)
        if setext and body and i > 0 and _is_setext_title(lines, i):
            underline = setext.group(1)
            body.pop()  # the title line was taken for body text
            close(1 if underline[0] == "=" else 2, _clean_heading(lines[i - 1]))
            continue
        body.append(line)
    sections.append((path, "\n".join(body)))
    return sections


def _is_setext_title(lines: list[str], i: int) -> bool:
    """A one-line paragraph directly above ``===``/``---`` is a setext heading.

    Longer paragraphs, list items, quotes, tables and HTML above a ``---`` are
    left alone: there ``---`` is far more often a thematic break or markup.
    """
    above = lines[i - 1]
    if _NOT_PARAGRAPH.match(above) or _ATX.match(above) or _FENCE.match(above):
        return False
    if i >= 2 and lines[i - 2].strip() and not _ATX.match(lines[i - 2]):
        return False
    return bool(_clean_heading(above))


def _clean_heading(text: str) -> str:
    """Heading text without markup: links, images, tags, anchors, emphasis."""
    text = re.sub(r"\{#[^}]*\}\s*$", "", text)  # {#custom-id}
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", "", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    return " ".join(text.split())


# ---------------------------------------------------------------- splitting


@dataclass
class _Unit:
    text: str
    sep: str  # joins it to the unit before
    code: bool = False


def split_text(text: str, chunk_size: int, chunk_overlap: int = 0) -> list[str]:
    """Split ``text`` into pieces of at most ``chunk_size`` characters (see module doc).

    >>> split_text("One. Two.\\n\\nThree.", 12)
    ['One. Two.', 'Three.']
    """
    text = re.sub(r"\A(?:[ \t]*\n)+", "", text).rstrip()
    if len(text) <= chunk_size:
        return [text] if is_meaningful(text) else []
    # Atomic units leave room for the overlap (and a separator) in every piece.
    limit = max(1, chunk_size - chunk_overlap - 2)
    units: list[_Unit] = []
    for block, is_code in _blocks(text):
        parts = _split_code(block, limit) if is_code else _split_prose(block, limit)
        for k, (sep, part) in enumerate(parts):
            units.append(_Unit(part, "\n\n" if k == 0 else sep, is_code))
    pieces: list[str] = []
    current = ""
    for unit in units:
        if current and len(current) + len(unit.sep) + len(unit.text) > chunk_size:
            pieces.append(current)
            tail = "" if unit.code else _overlap_tail(current, chunk_overlap)
            current = f"{tail}{unit.sep or ' '}{unit.text}" if tail else unit.text
        else:
            current = f"{current}{unit.sep}{unit.text}" if current else unit.text
    pieces.append(current)
    return [p.strip("\n") for p in pieces if is_meaningful(p)]


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraphs separated by blank lines, with fenced code kept as one block."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    fence: str | None = None

    def flush(code: bool = False) -> None:
        nonlocal current
        if any(line.strip() for line in current):
            blocks.append(("\n".join(current).strip("\n"), code))
        current = []

    for line in text.split("\n"):
        fm = _FENCE.match(line)
        if fence is None and fm:
            flush()
            fence = fm.group(1)
            current.append(line)
        elif fence is not None:
            current.append(line)
            if fm and _closes(fm, fence):
                fence = None
                flush(code=True)
        elif not line.strip():
            flush()
        else:
            current.append(line)
    flush(code=fence is not None)
    return blocks


def _closes(fm: re.Match[str], fence: str) -> bool:
    """A fence closes with the same character, at least as long, nothing after."""
    return fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence) and not fm.group(2).strip()


def _split_code(block: str, limit: int) -> list[tuple[str, str]]:
    """A fenced block whole, or cut at line boundaries with each piece re-fenced."""
    if len(block) <= limit:
        return [("", block)]
    lines = block.split("\n")
    opening = lines[0].strip()
    fence = _FENCE.match(opening)
    marker = fence.group(1) if fence else "```"
    closed = len(lines) > 1 and _FENCE.match(lines[-1]) is not None
    inner = lines[1:-1] if closed else lines[1:]
    room = max(1, limit - len(opening) - len(marker) - 2)
    groups: list[str] = []
    for line in inner:
        for part in _hard_cut(line, room):
            if groups and len(groups[-1]) + 1 + len(part) <= room:
                groups[-1] += "\n" + part
            else:
                groups.append(part)
    return [("\n\n", f"{opening}\n{g}\n{marker}") for g in groups]


def _split_prose(block: str, limit: int) -> list[tuple[str, str]]:
    """A paragraph whole, or as (separator, text) units: lines, sentences, words."""
    if len(block) <= limit:
        return [("", block)]
    units: list[tuple[str, str]] = []
    for line in block.split("\n"):
        sep = "\n"
        for sentence in [line] if len(line) <= limit else _SENTENCE_END.split(line):
            for word in [sentence] if len(sentence) <= limit else sentence.split():
                for k, part in enumerate(_hard_cut(word, limit)):
                    units.append((sep if k == 0 else "", part))
                    sep = " "
    return units


def _hard_cut(word: str, limit: int) -> list[str]:
    return [word[i : i + limit] for i in range(0, max(len(word), 1), limit)]


def _overlap_tail(text: str, size: int) -> str:
    """The last ``size`` characters of ``text``, starting at a sentence or word boundary."""
    if size <= 0 or "```" in text[-size:] or "~~~" in text[-size:]:
        return ""  # overlap is for prose; fences in it would break code blocks
    tail = text[-size:]
    if len(text) > size:
        m = re.search(r"(?<=[.!?])\s+(?=\S)|\n+(?=\S)", tail)
        if m and len(tail) - m.end() >= size // 4:
            tail = tail[m.end() :]
        else:
            ws = re.search(r"\s+(?=\S)", tail)
            tail = tail[ws.end() :] if ws else ""
    return tail.strip()
