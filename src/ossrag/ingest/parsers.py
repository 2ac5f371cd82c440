"""Turn one :class:`~ossrag.types.RawSource` into a :class:`~ossrag.types.Document`.

The second half of ingestion (:mod:`ossrag.ingest.loaders` finds the files)::

    from ossrag.ingest.parsers import parse, split_front_matter

    doc = parse(RawSource("/docs", "faq.md", data, "markdown"))  # raises LoadError
    doc.title, doc.text, doc.metadata

    front, body = split_front_matter("---\\ntitle: FAQ\\n---\\n# FAQ\\n")
    # ({'title': 'FAQ'}, '# FAQ\\n')

Every format comes out as UTF-8 Markdown-like text, so the chunker needs one
set of rules: Markdown loses its YAML front matter, HTML keeps its visible text
with ``<h1>``-``<h6>`` as ``#`` headings, reStructuredText titles become ``#``
headings, text stays as it is and PDF pages are joined with blank lines.
Parsing works on bytes in memory and never touches the disk; it needs nothing
beyond the standard library except ``pypdf`` for PDF, imported on first use.

``ossrag.ingest.loaders`` re-exports :func:`parse` and
:func:`split_front_matter`, so older imports from there keep working.
"""

from __future__ import annotations

import io
import re
import textwrap
from html.parser import HTMLParser

from ossrag.errors import LoadError
from ossrag.types import Document, RawSource

__all__ = ["parse", "split_front_matter"]


def parse(raw: RawSource) -> Document:
    """Decode and parse one source into a Document; raises LoadError with the reason.

    Markdown loses its YAML front matter (``title`` becomes ``Document.title``,
    ``id`` and ``summary`` go to metadata); HTML and reStructuredText become
    Markdown-like text whose ``#`` headings the chunker can cut at; PDF pages
    are joined with blank lines.

    >>> doc = parse(RawSource("/docs", "a.md", b"---\\ntitle: A\\n---\\n# A\\n\\nHello.\\n", "markdown"))
    >>> doc.title, doc.text
    ('A', '# A\\n\\nHello.\\n')
    """
    meta: dict[str, object] = {}
    if raw.fmt == "pdf":
        text, title, pages = _parse_pdf(raw.data)
        meta["pages"] = pages
    else:
        text = _decode(raw.data, raw.fmt)
        if raw.fmt == "markdown":
            front, text = split_front_matter(text)
            title = front.get("title", "") or _first_h1(text)
            meta.update({k: front[k] for k in ("id", "summary") if front.get(k)})
        elif raw.fmt == "html":
            text, title = _html_to_text(text)
        elif raw.fmt == "rst":
            text, title = _rst_to_markdown(text)
        elif raw.fmt == "text":
            title = ""
        else:
            raise LoadError(f"unknown format {raw.fmt!r}")
    if not re.search(r"[^\W_]", text):  # no letter or digit anywhere
        what = (
            "empty file" if raw.fmt in ("markdown", "text") else f"no text in this {raw.fmt} file"
        )
        raise LoadError(what)
    return Document(raw.origin, raw.source, text, raw.fmt, raw.source_hash, title, meta)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    # Control characters other than tab, newlines, form feed and escape are
    # rare in any text encoding (including latin-1) but common in binaries.
    controls = sum(1 for b in sample if b < 32 and b not in (8, 9, 10, 12, 13, 27))
    return controls > len(sample) * 0.05


def _decode(data: bytes, fmt: str) -> str:
    if not data.strip():
        raise LoadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Windows editors)
        try:
            return _clean_text(data.decode("utf-16"))
        except UnicodeDecodeError:
            pass
    if _looks_binary(data):
        raise LoadError(
            f"looks like a binary file, not {fmt} text",
            hint="exclude it with --exclude, or give it its proper extension",
        )
    try:
        return _clean_text(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        if fmt == "html":  # an HTML page may declare its own charset
            m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", data[:4096], re.IGNORECASE)
            if m:
                try:
                    return _clean_text(data.decode(m.group(1).decode("ascii")))
                except (LookupError, UnicodeDecodeError):
                    pass
        raise LoadError(
            f"not valid UTF-8 text (first bad byte at offset {exc.start})",
            hint="convert it to UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        ) from exc


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


# -- markdown

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
_KEY = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split YAML front matter off Markdown: ``({key: value}, rest)``.

    Only top-level ``key: value`` scalars are read (no PyYAML): quotes are
    removed, indented continuation lines and ``|``/``>`` blocks are folded in,
    nested mappings and lists are ignored.  Text without front matter comes
    back unchanged with an empty dict.
    """
    m = _FRONT.match(text)
    if not m:
        return {}, text
    fields: dict[str, str] = {}
    key = None
    for line in m.group(1).split("\n"):
        km = _KEY.match(line)
        if km:
            key = km.group(1)
            fields[key] = km.group(2) or ""
        elif key and line[:1] in (" ", "\t") and line.strip() and not line.strip().startswith("- "):
            if not re.match(r"\s*[\w.-]+\s*:(\s|$)", line):  # not a nested mapping
                fields[key] = (fields[key] + " " + line.strip()).strip()
        elif line.strip():
            key = None
    if not fields:  # two thematic breaks at the top, not front matter
        return {}, text
    for k, v in fields.items():
        v = re.sub(r"^[|>][+-]?\s*", "", v)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        fields[k] = v.strip()
    return fields, text[m.end() :]


def _first_h1(text: str) -> str:
    fence = None
    for line in text.split("\n"):
        fm = re.match(r" {0,3}(```+|~~~+)", line)
        if fm:
            fence = None if fence and fm.group(1).startswith(fence) else (fence or fm.group(1))
        elif fence is None and line.startswith("# "):
            return line[2:].strip().rstrip("#").strip()
    return ""


# -- html

_HTML_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_HTML_BLOCK = {
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
    "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot",
    "blockquote", "figure", "figcaption", "form", "fieldset", "address",
    "details", "summary", "hr", "caption",
}  # fmt: skip


def _html_to_text(html: str) -> tuple[str, str]:
    """Visible text of an HTML page as Markdown-like text, and its title."""
    p = _HTMLText()
    p.feed(html)
    p.close()
    lines: list[str] = []
    in_pre = False
    for line in "".join(p.out).split("\n"):
        if line == "```":
            while in_pre and lines and not lines[-1]:  # <pre> content ends with a newline
                lines.pop()
            in_pre = not in_pre
            lines.append(line)
        elif in_pre:
            lines.append(line.rstrip())
        elif not re.fullmatch(r"\s*(#+|-|\|)?\s*", line):  # drop empty headings/items
            lines.append(line.strip())
        else:
            lines.append("")
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
    title = " ".join("".join(p.title).split()) or p.first_h1
    return text, title


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.first_h1 = ""
        self._skip = 0  # depth inside script/style/...
        self._head = False
        self._in_title = False
        self._heading: list[str] | None = None  # text of the open h1-h6
        self._level = 0
        self._pre = 0
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._head = True
        elif tag == "body":
            self._head = False  # a page may never close <head>
        elif tag == "title":
            self._in_title = True
        elif tag in _HTML_SKIP:
            self._skip += 1
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._level = int(tag[1])
            self._heading = []
        elif tag == "pre":
            self.out.append("\n\n```\n")
            self._pre += 1
        elif tag == "br":
            self._text(" " if self._heading is not None else "\n", raw=True)
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "tr":
            self._cells = 0
            self.out.append("\n")
        elif tag in ("td", "th"):
            self._cells += 1
            if self._cells > 1:
                self.out.append(" | ")
        elif tag in _HTML_BLOCK:
            self.out.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._head = False
        elif tag == "title":
            self._in_title = False
        elif tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            text = " ".join("".join(self._heading).split())
            if text:
                self.out.append(f"\n\n{'#' * self._level} {text}\n\n")
                if self._level == 1 and not self.first_h1:
                    self.first_h1 = text
            self._heading = None
        elif tag == "pre" and self._pre:
            self._pre -= 1
            self.out.append("\n```\n\n")
        elif tag in _HTML_BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:  # <title> is metadata, never body text
            self.title.append(data)
            return
        if self._skip or self._head:
            return
        self._text(data)

    def _text(self, data: str, raw: bool = False) -> None:
        if self._heading is not None:
            self._heading.append(data)
        elif self._pre or raw:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


# -- reStructuredText

_ADORN = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,;/?@|])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.(?:\s+(.*))?$")
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode"}
_DROP_DIRECTIVES = {
    "image", "include", "literalinclude", "raw", "highlight", "contents", "sectnum",
    "meta", "index", "toctree", "role", "default-role", "target-notes", "autosummary",
}  # fmt: skip


def _rst_to_markdown(text: str) -> tuple[str, str]:
    """reStructuredText as Markdown-like text: titles become ``#`` headings.

    Heading levels follow the order in which adornment styles first appear
    (the rst rule); labels, comments and pure-markup directives are dropped,
    other directives keep their content, code becomes fenced blocks.
    """
    levels: list[tuple[str, bool]] = []
    titles: list[str] = []
    body = _rst_lines(text.split("\n"), levels, titles)
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip("\n") + "\n"
    return out, titles[0] if titles else ""


def _rst_block(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The indented block after line i-1: (dedented lines, index after it)."""
    j = i
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > i and not lines[j - 1].strip():  # trailing blank lines are not part of it
        j -= 1
    return textwrap.dedent("\n".join(lines[i:j])).split("\n"), j


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rst_lines(lines: list[str], levels: list[tuple[str, bool]], titles: list[str]) -> list[str]:
    out: list[str] = []

    def heading(title: str, key: tuple[str, bool]) -> None:
        if key not in levels:
            levels.append(key)
        titles.append(title)
        out.extend(["", "#" * min(levels.index(key) + 1, 6) + " " + title, ""])

    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        adorn = _ADORN.match(line)
        nxt = lines[i + 1] if i + 1 < n else ""
        if (  # overlined title
            adorn and i + 2 < n and nxt.strip() and not _ADORN.match(nxt)
            and lines[i + 2].rstrip() == line.rstrip() and len(line.rstrip()) >= len(nxt.strip())
        ):  # fmt: skip
            heading(nxt.strip(), (adorn.group(1), True))
            i += 3
            continue
        under = _ADORN.match(nxt)
        if (  # underlined title
            line.strip() and not adorn and not line[0].isspace() and under
            and len(nxt.rstrip()) >= len(line.rstrip())
        ):  # fmt: skip
            heading(line.strip(), (under.group(1), False))
            i += 2
            continue
        if adorn and len(line.strip()) >= 4 and not nxt.strip():  # a transition
            i += 1
            continue
        d = _DIRECTIVE.match(line)
        if d:
            i = _rst_directive(
                lines, i, len(d.group(1)), (d.group(2) or "").strip(), out, levels, titles
            )
            continue
        if line.rstrip().endswith("::"):  # a literal block follows
            para = line.rstrip()[:-2].rstrip()
            if para:
                out.append(para + ("" if para.endswith(":") else ":"))
            j = i + 1
            while j < n and not lines[j].strip():
                j += 1
            if j < n and _indent(lines[j]) > _indent(line):
                block, i = _rst_block(lines, j, _indent(line))
                out.extend(["", "```", *block, "```", ""])
            else:
                i += 1
            continue
        out.append(re.sub(r":[\w:+-]+:`([^`<]*?)\s*(?:<[^`>]*>)?`", r"\1", line))
        i += 1
    return out


def _rst_directive(
    lines: list[str], i: int, indent: int, rest: str, out: list[str],
    levels: list[tuple[str, bool]], titles: list[str],
) -> int:  # fmt: skip
    """Handle the explicit markup at line i; returns the index after it."""
    block, j = _rst_block(lines, i + 1, indent)
    m = re.match(r"([\w:-]+)::\s*(.*)$", rest)
    if rest.startswith("_") or rest.startswith("|"):  # label, target, substitution
        return j
    if rest.startswith("[") and "]" in rest:  # footnote or citation: keep its text
        out.append(rest)
        out.extend(block)
        return j
    if not m:  # a comment
        return j
    name, arg = m.group(1).lower(), m.group(2).strip()
    while block and re.match(r"\s*:[\w -]+:", block[0]):  # directive options
        block.pop(0)
    if name in _CODE_DIRECTIVES:
        body = textwrap.dedent("\n".join(block)).strip("\n")
        out.extend(["", f"```{arg}", body, "```", ""])
    elif name not in _DROP_DIRECTIVES:
        if arg and name != "figure":
            out.extend(["", arg])
        out.append("")
        out.extend(_rst_lines(textwrap.dedent("\n".join(block)).split("\n"), levels, titles))
        out.append("")
    return j


# -- pdf


def _parse_pdf(data: bytes) -> tuple[str, str, int]:
    """Text layer of a PDF: (text with pages joined by blank lines, title, page count)."""
    hint = "is it encrypted or a scan without a text layer? (OCR it first, e.g. with ocrmypdf)"
    try:
        import pypdf
    except ImportError as exc:
        raise LoadError(
            "cannot read PDF: pypdf is not installed", hint="pip install pypdf"
        ) from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("cannot read PDF: it is encrypted with a password", hint=hint)
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata
        title = str(info.title or "").strip() if info else ""
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise LoadError(f"cannot read PDF: {type(exc).__name__}: {exc}", hint=hint) from exc
    text = _clean_text("\n\n".join(p for p in pages if p))
    if not text.strip():
        raise LoadError(f"cannot read PDF: no text layer in {len(pages)} page(s)", hint=hint)
    return text + "\n", title, len(pages)
