"""What a file is: by its name (compound suffixes included) and, for text, by its content.

    format_for_name("_sources/usage/quickstart.rst.txt")   # 'rst'
    format_for_name("guide.md.txt"), format_for_name("notes.txt")   # ('markdown', 'text')
    sniff_text("Title\\n=====\\n\\n.. note:: hi\\n")         # 'rst'
    sniff_text("# Intro\\n\\nSee [the guide](g.md).\\n")    # 'markdown'
    sniff_text("Just a note.\\n")                          # 'text'

Sphinx copies every source next to its HTML build as ``_sources/NAME.rst.txt``
(MyST projects: ``NAME.md.txt``), so the suffix before ``.txt`` names the real
format.  A ``.txt`` or extensionless file is read as reST or Markdown only
when its content says so clearly (see :func:`sniff_text`); anything
ambiguous stays plain text, which never fails.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

__all__ = ["FORMATS", "format_for_name", "sniff_text"]

FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "rst",
    ".rest": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
# The suffix before a trailing .txt, as Sphinx writes its _sources copies.
_BEFORE_TXT = {".rst": "rst", ".rest": "rst", ".md": "markdown", ".markdown": "markdown"}


def format_for_name(name: str) -> str | None:
    """Format of a file by its name, or None when no suffix says what it is.

    >>> format_for_name("a/b.rst.txt"), format_for_name("c.md.txt"), format_for_name("d.MDX")
    ('rst', 'markdown', 'markdown')
    >>> format_for_name("notes.txt"), format_for_name("Makefile"), format_for_name("x.png")
    ('text', None, None)
    """
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if not suffixes:
        return None
    if suffixes[-1] == ".txt" and len(suffixes) >= 2 and suffixes[-2] in _BEFORE_TXT:
        return _BEFORE_TXT[suffixes[-2]]
    return FORMATS.get(suffixes[-1])


# reST: a title is a line followed by an underline of one repeated punctuation
# character at least as long; '=' and '-' underlines are also Markdown's setext
# headings, other characters are reST only.
_ADORN = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,;/?@|])\1{2,}[ \t]*$")
_DIRECTIVE = re.compile(r"^\s*\.\. (?:[\w-]+:)?[\w-]+::(?:\s|$)")
_TARGET = re.compile(r"^\.\. _[^:]+:")
_ROLE = re.compile(r":[a-z][\w-]*(?::[\w-]+)?:`[^`]+`")
_RST_LITERAL = re.compile(r"``[^`]+``")
# Markdown
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})")
_LINK = re.compile(r"!?\[[^\]\n]+\]\([^)\s]+(?:\s+\"[^\"]*\")?\)")
_RST_LINK = re.compile(r"`[^`]+ <[^>]+>`_")


def _evidence(lines: list[str]) -> dict[str, float]:
    """Counts of each kind of evidence (see :func:`sniff_text`)."""
    ev = dict.fromkeys(("rst", "setext", "atx", "md", "hashes"), 0.0)
    fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fence = not fence
            ev["md"] += 1
            continue
        if fence:
            continue
        prev = lines[i - 1] if i else ""
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("#"):
            ev["hashes"] += 1
        adorn = _ADORN.match(nxt)
        if (
            adorn
            and line.strip()
            and not line[0].isspace()
            and not _ADORN.match(line)
            and len(nxt.rstrip()) >= len(line.rstrip())
            and not prev.strip()
        ):
            ev["setext" if adorn.group(1) in "=-" else "rst"] += 1
        if _DIRECTIVE.match(line) or _TARGET.match(line):
            ev["rst"] += 2
        if _ATX.match(line) and not prev.strip() and not nxt.strip():
            ev["atx"] += 1  # a heading, not a comment: blank lines around it
        ev["rst"] += len(_ROLE.findall(line)) + len(_RST_LINK.findall(line))
        ev["rst"] += 0.25 * len(_RST_LITERAL.findall(line))
        ev["md"] += len(_LINK.findall(line))
    return ev


def sniff_text(text: str) -> str:
    """``"rst"``, ``"markdown"`` or ``"text"`` for the content of a text file.

    Evidence is counted, not guessed from one line.  reST's own: directives
    and targets (``.. note::``, ``.. _label:``), titles underlined with
    characters other than ``=``/``-``, roles (``:ref:`x```), ```` `links
    <url>`_ ````, ```` ``literals`` ````.  Markdown's own: ATX headings with
    blank lines around them, code fences, ``[links](url)``.  Shared: titles
    underlined with ``=`` or ``-`` (both formats' headings).  A format needs
    at least two points (its own plus shared) and twice the other's own
    evidence; files with ``#`` on a quarter of their lines are comments
    (config, requirements), not headings.  Anything else — no evidence, or
    signs of both — stays ``"text"``.

    >>> sniff_text("Intro\\n=====\\n\\nSee :ref:`setup`.\\n"), sniff_text("# a comment\\nx = 1\\n")
    ('rst', 'text')
    """
    lines = text.split("\n")[:4000]  # enough to decide; keeps huge logs cheap
    if lines and lines[0].startswith("#!"):
        return "text"  # a script
    ev = _evidence(lines)
    nonblank = sum(1 for line in lines if line.strip())
    if ev["hashes"] > max(8, nonblank // 4):
        ev["atx"] = 0
    rst, md = ev["rst"], ev["md"] + ev["atx"]
    if md and md >= 2 * rst and md + ev["setext"] >= 2:
        return "markdown"
    if rst >= 2 * md and rst + ev["setext"] >= 2:
        return "rst"  # setext-only files too: reST reads every title style
    return "text"
