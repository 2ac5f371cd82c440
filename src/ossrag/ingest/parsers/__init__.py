"""Turn one :class:`~ossrag.types.RawSource` into a :class:`~ossrag.types.Document`.

The second half of ingestion (:mod:`ossrag.ingest.loaders` finds the files)::

    from ossrag.ingest.parsers import parse, split_front_matter

    doc = parse(RawSource("/docs", "faq.md", data, "markdown"))  # raises LoadError
    doc.title, doc.text, doc.fmt
    doc.metadata["parser"]        # 'markdown', 'rst', 'sphinx-html', 'mkdocs-html', 'html', 'text', 'pdf'
    doc.metadata["detected_by"]   # 'name', or 'content' when a .txt/extensionless file was sniffed

    front, body = split_front_matter("---\\ntitle: FAQ\\n---\\n# FAQ\\n")
    # ({'title': 'FAQ'}, '# FAQ\\n')

Every format comes out as UTF-8 Markdown-like text, so the chunker needs one
set of rules; one module per format does the work:

- :mod:`.sniff` — the format by name (``.rst.txt``, ``.md.txt``, ``.mdx``, ...)
  and, for ``.txt`` and extensionless files, by content;
- :mod:`.markdown` — front matter off, MyST/MDX markup resolved;
- :mod:`.rst` — titles as ``#`` headings, glossary/definition-list terms and
  Sphinx object descriptions as headings of their own;
- :mod:`.html` — the main content only (no navigation, sidebars, footers,
  permalink marks, scripts, styles or hidden elements), ``<h1>``-``<h6>``
  as headings;
- :mod:`.pdf` — pages joined with blank lines, pypdf in a child process
  with a time limit.

Plain text stays as it is; text in another encoding than UTF-8 is decoded by
a fallback that says what it did (``doc.metadata["decoding"]``).  Parsing
works on bytes in memory and never touches the disk.  ``ossrag.ingest.loaders`` re-exports :func:`parse` and
:func:`split_front_matter`, so older imports from there keep working.
"""

from __future__ import annotations

import re

from ossrag.config import IngestLimits
from ossrag.errors import LoadError
from ossrag.types import Document, RawSource

from ._text import decode_text
from .html import html_to_text
from .markdown import markdown_to_text, split_front_matter
from .pdf import pdf_to_text
from .rst import rst_to_markdown
from .sniff import FORMATS, format_for_name, sniff_text

__all__ = ["FORMATS", "format_for_name", "parse", "sniff_text", "split_front_matter"]

_HAS_TEXT = re.compile(r"[^\W_]")  # a letter or digit anywhere


def parse(raw: RawSource, *, limits: IngestLimits | None = None) -> Document:
    """Decode and parse one source into a Document; raises LoadError with the reason.

    ``raw.fmt`` comes from the file name; a ``"text"`` source is sniffed and
    parsed as reST or Markdown when its content is clearly that (the
    Document's ``fmt`` is then the detected format), else kept as plain text.
    Text that is not UTF-8 is decoded by a documented fallback
    (:func:`._text.decode_text`) and ``metadata["decoding"]`` says how.  A PDF
    is parsed in a child process within ``limits.parse_timeout`` seconds.

    >>> doc = parse(RawSource("/docs", "a.md", b"---\\ntitle: A\\n---\\n# A\\n\\nHello.\\n", "markdown"))
    >>> doc.title, doc.text, doc.metadata["parser"]
    ('A', '# A\\n\\nHello.\\n', 'markdown')
    >>> parse(RawSource("/docs", "b.txt", b"Intro\\n=====\\n\\nSee :ref:`x`.\\n", "text")).fmt
    'rst'
    """
    meta: dict[str, object] = {"detected_by": "name"}
    if raw.fmt == "pdf":
        timeout = (limits or IngestLimits()).parse_timeout
        text, title, pages = pdf_to_text(raw.data, timeout=timeout)
        fmt, meta["parser"], meta["pages"] = "pdf", "pdf", pages
    else:
        text, note = decode_text(raw.data, raw.fmt)
        if note:
            meta["decoding"] = note
        fmt = raw.fmt
        if fmt == "text":
            sniffed = sniff_text(text)
            if sniffed != "text":
                converted = _convert(sniffed, text, raw.source, meta)
                if _HAS_TEXT.search(converted[0]):
                    meta["detected_by"] = "content"
                    return _document(raw, sniffed, *converted, meta)
                meta.pop("parser", None)  # nothing left in that reading: plain text it is
        text, title = _convert(fmt, text, raw.source, meta)
    return _document(raw, fmt, text, title, meta)


def _convert(fmt: str, text: str, source: str, meta: dict[str, object]) -> tuple[str, str]:
    """(text, title) of decoded ``text`` read as ``fmt``; sets meta's parser (and more)."""
    meta["parser"] = fmt
    if fmt == "markdown":
        text, title, front = markdown_to_text(text, source)
        meta.update(front)
        return text, title
    if fmt == "html":
        text, title, generator = html_to_text(text)
        if generator:
            meta["generator"] = generator
        if generator in ("sphinx", "mkdocs"):
            meta["parser"] = f"{generator}-html"
        return text, title
    if fmt == "rst":
        return rst_to_markdown(text)
    if fmt == "text":
        return text, ""
    raise LoadError(f"unknown format {fmt!r}")


def _document(raw: RawSource, fmt: str, text: str, title: str, meta: dict[str, object]) -> Document:
    if not _HAS_TEXT.search(text):
        what = "empty file" if fmt in ("markdown", "text") else f"no text in this {fmt} file"
        raise LoadError(what)
    return Document(raw.origin, raw.source, text, fmt, raw.source_hash, title, meta)
