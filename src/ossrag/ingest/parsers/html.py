"""HTML to Markdown-like text: the page's main content, headings as ``#`` lines.

    text, title, generator = html_to_text(page)   # generator: "sphinx", "mkdocs", ... or ""

Documentation sites repeat their navigation, sidebars, search box, "Edit this
page" button and footer on every page; indexed, that text matches every query
a little and pushes the real answers down.  So the page is first reduced to
its main content, by the structure documentation generators write:

1. the one ``<article>`` of the page (MkDocs Material, Furo, PyData, blogs);
2. else the ``role="main"`` element (Sphinx's themes, Read the Docs, MkDocs);
3. else ``<main>``, Sphinx's ``div.body``, ``#content``; else the whole body.

Text a reader never sees is never indexed, wherever it is: ``<script>``,
``<style>``, ``<template>``, ``<noscript>`` (and embedded ``<svg>``,
``<iframe>``, ``<object>``, ``<canvas>``), comments, and elements hidden by
the ``hidden`` attribute, ``aria-hidden="true"``, a closed ``<dialog>`` or an
inline style (``display:none``, ``visibility:hidden``, ``opacity:0``,
``font-size:0``).  Such text is where a page hides instructions meant for a
model.  Hiding done by a stylesheet class is not detected (that would need a
CSS engine).

Inside it, navigation (``<nav>``, ``role="navigation"``, breadcrumbs,
previous/next links), search, footers, "edit this page" / "view source" links
and permalink marks (Sphinx's ``¶`` anchors) are removed.  Sphinx's glossary
entries and object descriptions (``<dl class="glossary">``, ``<dt
class="sig">``) become headings one level below their section, like the reST
parser's terms.

BeautifulSoup (with the standard library's ``html.parser``, so no compiled
dependency) finds and prunes those regions; the visible text is then written
out by a small :class:`html.parser.HTMLParser` subclass that keeps headings,
lists, tables and ``<pre>`` blocks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from ._text import REOPEN, clean_heading, reopen_sections

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

__all__ = ["html_to_text"]

_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "blockquote",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "address",
    "details",
    "summary",
    "hr",
    "caption",
}
# Never content, wherever they are inside the main region.
_PRUNE = ", ".join(
    [
        "nav",
        "footer",
        "form",
        "button",
        "[role=navigation]",
        "[role=search]",
        "[role=contentinfo]",
        ".headerlink",
        ".md-content__button",
        ".md-source-file",
        ".md-sidebar",
        ".md-footer",
        ".sphinxsidebar",
        ".related",
        ".wy-breadcrumbs",
        ".rst-footer-buttons",
        ".breadcrumbs",
        ".prev-next-area",
        ".prev-next-footer",
        ".bd-sidebar-secondary",
        ".toc-drawer",
        ".edit-this-page",
        ".toctree-wrapper",
        "#searchbox",
        ".sidebar-drawer",
        ".back-to-top",
        ".related-pages",
        ".bd-header-article",
        ".footer",
    ]
)
_EDIT_LINK = re.compile(
    r"(?:edit|improve|view|show) (?:this page|on github|on gitlab|page source|source|the source)"
    r"|suggest an? edit|report an issue",
    re.IGNORECASE,
)
_PERMALINK = re.compile(r"[¶§#\U0001f517]")
_TERM_TAG, _TERMS_TAG = "ossrag-term", "ossrag-terms"
# Inline styles that make an element invisible (see the module docstring).
_HIDDEN_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|opacity\s*:\s*0*(?:\.0*)?\s*(?:!important)?\s*(?:;|$)"
    r"|font-size\s*:\s*0+(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:!important)?\s*(?:;|$))",
    re.IGNORECASE,
)


def html_to_text(html: str) -> tuple[str, str, str]:
    """(Markdown-like text of the main content, page title, generator) of an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    generator = _generator(soup, html)
    _drop_hidden(soup)
    root = _main_region(soup)
    for tag in root.select(_PRUNE):
        tag.decompose()
    for a in root.find_all("a"):
        text = a.get_text(" ", strip=True)
        if _EDIT_LINK.fullmatch(text) or (text and not _PERMALINK.sub("", text).strip()):
            a.decompose()
    _mark_terms(root)
    p = _HTMLText()
    p.feed(str(root))
    p.close()
    return _layout("".join(p.out)), title or p.first_h1, generator


def _generator(soup: BeautifulSoup, html: str) -> str:
    """ "sphinx", "mkdocs", another generator's first word, or "" when the page does not say."""
    meta = soup.find("meta", attrs={"name": "generator"})
    content = str(meta.get("content", "")) if meta is not None else ""
    if content.lower().startswith("mkdocs"):
        return "mkdocs"
    if content.lower().startswith("sphinx") or re.search(
        r"documentation_options\.js|Created using <a href=\"https?://(?:www\.)?sphinx-doc\.org"
        r"|class=\"sphinxsidebar\"|title=\"Permalink to this (?:heading|headline)\"",
        html,
    ):
        return "sphinx"
    word = re.match(r"[A-Za-z][\w.-]*", content)
    return word.group(0).lower() if word else ""


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    if tag.name == "dialog" and not tag.has_attr("open"):
        return True
    return bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))


def _drop_hidden(soup: BeautifulSoup) -> None:
    """Remove elements a reader cannot see (see the module docstring)."""
    for tag in soup.find_all(_is_hidden):
        if not tag.decomposed:  # already gone with a hidden ancestor
            tag.decompose()


def _main_region(soup: BeautifulSoup) -> Tag:
    """The element holding the page's main content (see the module docstring)."""
    articles = soup.find_all("article")
    candidates = [articles[0]] if len(articles) == 1 else []
    for selector in ("[role=main]", "main", "div.body", "#content", "div.document", "body"):
        found = soup.select_one(selector)
        if found is not None:
            candidates.append(found)
    for tag in candidates:
        if re.search(r"[^\W_]", tag.get_text()):
            return tag
    return soup


def _mark_terms(root: Tag) -> None:
    """Sphinx glossaries and object descriptions: their <dt> will be headings."""
    for dl in root.find_all("dl"):
        dts = dl.find_all("dt", recursive=False)
        if "glossary" in _classes(dl) or any("sig" in _classes(dt) for dt in dts):
            dl.name = _TERMS_TAG
            for dt in dts:
                dt.name = _TERM_TAG


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    return [value] if isinstance(value, str) else list(value or [])


def _layout(raw: str) -> str:
    """Tidy the converter's output: trimmed lines, no empty headings, ``<pre>`` kept verbatim."""
    lines: list[str] = []
    in_pre = False
    for line in raw.split("\n"):
        if line == "```":
            while in_pre and lines and not lines[-1]:  # <pre> content ends with a newline
                lines.pop()
            in_pre = not in_pre
            lines.append(line)
        elif in_pre:
            lines.append(line.rstrip())
        elif not re.fullmatch(r"\s*(#+|-|\|)?\s*", line):  # drop empty headings/items
            lines.append(line.strip() if not line.startswith(REOPEN) else line)
        else:
            lines.append("")
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
    return reopen_sections(text)


class _HTMLText(HTMLParser):
    """Visible text with ``#`` headings, ``-`` items, ``|`` cells and fenced ``<pre>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.first_h1 = ""
        self._skip = 0  # depth inside script/style/...
        self._head = False
        self._heading: list[str] | None = None  # text of the open heading or term
        self._level = 0
        self._open: list[tuple[int, str]] = []  # enclosing headings: (level, text)
        self._terms: list[str] = []  # consecutive <dt> texts waiting for their <dd>
        self._term_bases: list[int] = []  # heading level around each open term list
        self._pre = 0
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._head = True
        elif tag == "body":
            self._head = False  # a page may never close <head>
        elif tag in _SKIP or tag == "title":
            self._skip += 1
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._flush_terms()
            self._level = int(tag[1])
            self._heading = []
        elif tag == _TERMS_TAG:
            self._flush_terms()
            self._term_bases.append(self._open[-1][0] if self._open else 0)
        elif tag == _TERM_TAG:
            self._heading = []
        elif tag == "dd" and self._terms:
            self._flush_terms()
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
        elif tag in _BLOCK:
            self.out.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._head = False
        elif tag in _SKIP or tag == "title":
            self._skip = max(0, self._skip - 1)
            return
        if self._skip or self._head:
            return
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            text = clean_heading("".join(self._heading))
            self._heading = None
            if text:
                self._emit(self._level, text)
                if self._level == 1 and not self.first_h1:
                    self.first_h1 = text
        elif tag == _TERM_TAG and self._heading is not None:
            text = clean_heading("".join(self._heading))
            self._heading = None
            if text:
                self._terms.append(text)
        elif tag == _TERMS_TAG and self._term_bases:
            self._flush_terms()
            base = self._term_bases.pop()
            while self._open and self._open[-1][0] > base:
                self._open.pop()
            if self._open:
                level, text = self._open[-1]
                self.out.append(f"\n\n{REOPEN}{'#' * min(level, 6)} {text}\n\n")
        elif tag == "pre" and self._pre:
            self._pre -= 1
            self.out.append("\n```\n\n")
        elif tag in _BLOCK:
            self.out.append("\n\n")

    def _emit(self, level: int, text: str) -> None:
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, text))
        self.out.append(f"\n\n{'#' * min(level, 6)} {text}\n\n")

    def _flush_terms(self) -> None:
        if self._terms and self._term_bases:
            self._emit(self._term_bases[-1] + 1, ", ".join(self._terms))
        self._terms = []

    def handle_data(self, data: str) -> None:
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
