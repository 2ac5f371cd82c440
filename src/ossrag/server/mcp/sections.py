"""A document's sections back from its stored chunks: which chunks a heading names, and
their text joined without the overlap the chunker repeated.

    chunks = store.source_chunks("docs", "guide/storage.md")
    picked = match_heading(chunks, "Object storage")      # the section and its sub-sections
    join_chunks(picked)                                   # one text, headings as Markdown

A heading matches on whole components of the heading path, case and spacing
ignored: ``Object storage`` names ``Storage > Object storage`` and everything
under it; ``Storage > Object storage`` names the same.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError

from ...types import Hit

__all__ = ["join_chunks", "match_heading", "resolve_source"]

_SEP = " > "


def _norm(path: str) -> str:
    return _SEP.join(" ".join(part.split()).casefold() for part in path.split(">"))


def match_heading(chunks: list[Hit], heading: str) -> list[Hit]:
    """The chunks under ``heading`` (a run of whole heading-path components), in order."""
    wanted = f"{_SEP}{_norm(heading)}{_SEP}"
    return [c for c in chunks if wanted in f"{_SEP}{_norm(c.heading)}{_SEP}"]


def _overlap(before: str, after: str, longest: int = 600, shortest: int = 20) -> int:
    """Length of the longest start of ``after`` that ends ``before`` (the chunker's overlap)."""
    before = before.rstrip()
    for n in range(min(longest, len(before), len(after)), shortest - 1, -1):
        if before.endswith(after[:n]):
            return n
    return 0


def join_chunks(chunks: list[Hit]) -> str:
    """The chunks' text in order, a Markdown heading line wherever the heading changes.

    Pieces of one split section (``metadata.section_part``) repeat the end of
    the piece before; that repetition is dropped and the pieces rejoined at
    the separator they were cut at.
    """
    out: list[str] = []
    heading: str | None = None
    previous = ""
    for chunk in chunks:
        text = chunk.text.strip("\n")
        if chunk.heading != heading:
            heading = chunk.heading
            if heading:
                depth = min(heading.count(_SEP) + 1, 6)
                out.append(f"{'#' * depth} {heading.split(_SEP)[-1]}")
        elif chunk.metadata.get("section_part") and previous and out:
            cut = _overlap(previous, text)
            if cut:
                # What follows the repeated tail is the separator the chunker cut at.
                out[-1] += text[cut:].rstrip()
                previous = chunk.text
                continue
        if text:
            out.append(text)
        previous = chunk.text
    return "\n\n".join(out)


def resolve_source(source: str, known: list[str]) -> str:
    """The stored source ``source`` means: exact, else the one ending with it (case ignored)."""
    names = sorted(set(known))
    if source in names:
        return source
    low = source.strip().strip("/").casefold()
    hits = [n for n in names if n.casefold() == low or n.casefold().endswith("/" + low)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ToolError(f"{source!r} matches several documents: {', '.join(hits[:20])}")
    shown = ", ".join(names[:30]) + (f", … ({len(names)} in all)" if len(names) > 30 else "")
    raise ToolError(
        f"no document {source!r} in this knowledge base; its documents: {shown or '(none)'}"
    )
