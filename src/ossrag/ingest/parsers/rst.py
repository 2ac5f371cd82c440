"""reStructuredText (and Sphinx's ``_sources/*.rst.txt``) to Markdown-like text.

    text, title = rst_to_markdown(source)

Titles become ``#`` headings, their levels in the order in which adornment
styles first appear (the reST rule).  Labels, comments, substitutions and
pure-markup directives (``toctree``, ``image``, ``index``, ...) are dropped,
code becomes fenced blocks, roles keep their text (``:ref:`the guide <x>```
-> ``the guide``), ``versionadded``/``versionchanged``/``deprecated`` read as
"New in version 1.3." and so on, and other directives keep their content.

Terms are headings one level below their section, so that each is a chunk of
its own under the term: the entries of a ``glossary``, the items of a
definition list, and Sphinx's object descriptions (``confval``, ``option``,
``envvar``, ``describe``, ``event``, ``py:function``, ``rst:directive``, ...:
every directive documenting one named thing).  After the list the section's
heading is repeated when more text follows, so that text is not filed under
the last term.

Hand-written rather than docutils: docutils would need every Sphinx role and
directive registered (or it reports errors and drops their content), and
what the chunker needs — headings and readable text — is line-level.
"""

from __future__ import annotations

import re
import textwrap

from ._text import REOPEN, clean_heading, reopen_sections

__all__ = ["inline", "rst_to_markdown"]

_ADORN = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,;/?@|])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.(?:\s+(.*))?$")
_ROLE = re.compile(r"(?<![`\w]):[\w:+-]+:`([~!]?)([^`<]+?)\s*(?:<[^`>]*>)?`")
_LINK = re.compile(r"(?<!`)`([^`<]+?)\s*<([^`>]+)>`__?")
_REF = re.compile(r"(?<![`\w])`([^`<]+?)`__?(?!\w)")
_CODE = {"code", "code-block", "sourcecode"}
_DROP = {
    "image",
    "include",
    "literalinclude",
    "raw",
    "highlight",
    "contents",
    "sectnum",
    "meta",
    "index",
    "toctree",
    "role",
    "default-role",
    "target-notes",
    "autosummary",
    "tabularcolumns",
    "currentmodule",
    "program",
    "default-domain",
    "codeauthor",
    "sectionauthor",
    "moduleauthor",
    "inheritance-diagram",
    "module",
}
_NO_ARG = {"only", "ifconfig", "container", "rst-class", "cssclass", "class-rst", "tab-set"}
_VERSION = {
    "versionadded": "New in version {}",
    "versionchanged": "Changed in version {}",
    "deprecated": "Deprecated since version {}",
    "versionremoved": "Removed in version {}",
}
# Sphinx object descriptions: each documents one named thing (its signature).
_DESCRIBE = {
    "confval",
    "option",
    "cmdoption",
    "envvar",
    "describe",
    "object",
    "event",
    "setuptools-confval",
    "data",
    "function",
    "class",
    "method",
    "attribute",
    "exception",
    "staticmethod",
    "classmethod",
    "decorator",
    "property",
    "type",
}
_DOMAINS = {"py", "c", "cpp", "js", "rst", "std", "http", "mat", "php", "rb", "math"}
_NOT_DESCRIBE = {
    "module",
    "currentmodule",
    "namespace",
    "namespace-push",
    "namespace-pop",
    "alias",
    "default-domain",
    "program",
}
# A line that starts something other than a definition-list term.
_NOT_TERM = re.compile(
    r"^(?:[-*+•‣⁃]\s|\d+[.)]\s|#[.)]\s|\(?[a-zA-Z0-9]{1,3}[.)]\s|:[^:\s][^:]*:(?:\s|$)|\.\.(?:\s|$)"
    r"|[|+]|>>>|-{1,2}\w|/\w)"
)


def rst_to_markdown(text: str) -> tuple[str, str]:
    """reStructuredText as Markdown-like text, and its title (see the module docstring)."""
    conv = _Rst()
    # A role or link wrapped onto the next line (`:doc:`the\n   guide <g>``) is one span.
    text = re.sub(r"((?<![`\w]):[\w:+-]+:`[^`\n]+)\n[ \t]*([^`\n]*`)", r"\1 \2", text)
    body = conv.lines(text.split("\n"))
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip("\n") + "\n"
    return reopen_sections(out), conv.titles[0] if conv.titles else ""


def _role(m: re.Match[str]) -> str:
    """A role's text; ``~a.b.C`` shows only ``C``, as Sphinx does."""
    text = m.group(2)
    return text.rsplit(".", 1)[-1] if m.group(1) == "~" else text


def _prose(line: str) -> str:
    """A body line: roles reduced to their text, links as Markdown links, escapes resolved.

    >>> _prose(r"see :class:`~sphinx.Builder` and `docs <https://x>`_, ``:numbered:``, role\\ s")
    'see Builder and [docs](https://x), ``:numbered:``, roles'
    """
    line = _ROLE.sub(_role, line)
    line = _LINK.sub(r"[\1](\2)", line)
    line = _REF.sub(r"\1", line)
    return re.sub(r"\\ ", "", line)


def inline(text: str) -> str:
    """reST inline markup reduced to its text (for headings).

    >>> inline("The :confval:`html_theme` and ``conf.py`` and `Sphinx <https://x>`_")
    'The html_theme and conf.py and Sphinx'
    """
    text = _ROLE.sub(_role, text)
    text = re.sub(r"``(.+?)``", r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF.sub(r"\1", text)
    text = re.sub(r"(\*\*|\*)(\S(?:.*?\S)?)\1", r"\2", text)
    return clean_heading(text.replace("\\ ", "").replace("\\", ""))


def _block(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The block indented deeper than ``indent`` from line i: (dedented lines, index after it)."""
    j = i
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > i and not lines[j - 1].strip():  # trailing blank lines are not part of it
        j -= 1
    return textwrap.dedent("\n".join(lines[i:j])).split("\n"), j


def _describes(name: str) -> bool:
    """True for a Sphinx object description (``confval``, ``py:function``, ...)."""
    domain, _, local = name.rpartition(":")
    if name in _DESCRIBE:
        return True
    return bool(domain) and domain.split(":")[0] in _DOMAINS and local not in _NOT_DESCRIBE


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class _Rst:
    """One document's conversion state: adornment styles seen, titles, open headings."""

    def __init__(self) -> None:
        self.styles: list[tuple[str, bool]] = []  # adornment styles in order of appearance
        self.titles: list[str] = []
        self.open: list[tuple[int, str]] = []  # (level, text) of the enclosing headings

    def _heading(self, out: list[str], level: int, text: str) -> None:
        while self.open and self.open[-1][0] >= level:
            self.open.pop()
        self.open.append((level, text))
        out.extend(["", "#" * min(level, 6) + " " + text, ""])

    def _term_level(self) -> int:
        return (self.open[-1][0] if self.open else 0) + 1

    def _close_terms(self, out: list[str], level: int) -> None:
        """After a list of terms at ``level``: back in the enclosing heading."""
        while self.open and self.open[-1][0] >= level:
            self.open.pop()
        if self.open:
            lvl, text = self.open[-1]
            out.extend(["", REOPEN + "#" * min(lvl, 6) + " " + text, ""])

    def lines(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            j = self._title(lines, i, out)
            if j is None:
                j = self._explicit(lines, i, out)
            if j is None and self._is_term(lines, i):
                j = self._deflist(lines, i, out)
            if j is None:
                j = self._literal(lines, i, out)
            if j is None:
                adorn = _ADORN.match(line)
                nxt = lines[i + 1] if i + 1 < n else ""
                if not (adorn and len(line.strip()) >= 4 and not nxt.strip()):  # not a transition
                    out.append(_prose(line))
                j = i + 1
            i = j
        return out

    def _title(self, lines: list[str], i: int, out: list[str]) -> int | None:
        line, n = lines[i], len(lines)
        adorn = _ADORN.match(line)
        nxt = lines[i + 1] if i + 1 < n else ""
        if (  # overlined title
            adorn
            and i + 2 < n
            and nxt.strip()
            and not _ADORN.match(nxt)
            and lines[i + 2].rstrip() == line.rstrip()
            and len(line.rstrip()) >= len(nxt.strip())
        ):
            self._section(out, nxt.strip(), (adorn.group(1), True))
            return i + 3
        under = _ADORN.match(nxt)
        if (  # underlined title
            line.strip()
            and not adorn
            and not line[0].isspace()
            and under
            and len(nxt.rstrip()) >= len(line.rstrip())
        ):
            self._section(out, line.strip(), (under.group(1), False))
            return i + 2
        return None

    def _section(self, out: list[str], title: str, style: tuple[str, bool]) -> None:
        if style not in self.styles:
            self.styles.append(style)
        text = inline(title)
        self.titles.append(text)
        self._heading(out, self.styles.index(style) + 1, text)

    def _literal(self, lines: list[str], i: int, out: list[str]) -> int | None:
        """A paragraph ending in ``::`` and the literal block after it."""
        line = lines[i]
        if not line.rstrip().endswith("::"):
            return None
        para = _prose(line.rstrip()[:-2].rstrip())
        if para:
            out.append(para + ("" if para.endswith(":") else ":"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j < len(lines) and _indent(lines[j]) > _indent(line):
            block, end = _block(lines, j, _indent(line))
            out.extend(["", "```", *block, "```", ""])
            return end
        return i + 1

    # -- definition lists

    def _is_term(self, lines: list[str], i: int) -> bool:
        line = lines[i]
        if not line.strip() or line[0].isspace() or i + 1 >= len(lines):
            return False
        nxt = lines[i + 1]
        return (
            (i == 0 or not lines[i - 1].strip())
            and bool(nxt.strip())
            and _indent(nxt) > 0
            and not line.rstrip().endswith("::")
            and not _NOT_TERM.match(line)
            and not _ADORN.match(nxt.strip())
        )

    def _deflist(self, lines: list[str], i: int, out: list[str]) -> int:
        """Items ``term`` + indented definition, each under its term as a heading."""
        level = self._term_level()
        j = i
        while j < len(lines) and self._is_term(lines, j):
            term = inline(re.split(r"\s+:\s+", lines[j].strip())[0])  # drop classifiers
            self._heading(out, level, term)
            body, j = _block(lines, j + 1, 0)
            out.extend(self.lines(body))
            while j < len(lines) and not lines[j].strip():
                j += 1
        self._close_terms(out, level)
        return j

    # -- explicit markup

    def _explicit(self, lines: list[str], i: int, out: list[str]) -> int | None:
        """A directive, comment, target, footnote or substitution at line i."""
        d = _DIRECTIVE.match(lines[i])
        if not d:
            return None
        indent, rest = len(d.group(1)), (d.group(2) or "").strip()
        block, j = _block(lines, i + 1, indent)
        if rest.startswith(("_", "|")):  # label, target, substitution
            return j
        if rest.startswith("[") and "]" in rest:  # footnote or citation: keep its text
            out.append(rest)
            out.extend(block)
            return j
        m = re.match(r"([\w:-]+)::\s*(.*)$", rest)
        if not m:  # a comment
            return j
        name, arg = m.group(1).lower(), m.group(2).strip()
        args = [arg]
        if _describes(name):  # more signatures on the lines right below
            while block and block[0].strip() and not re.match(r"\s*:[\w -]+:", block[0]):
                args.append(block.pop(0).strip())
        while block and re.match(r"\s*:[\w -]+:", block[0]):  # directive options
            block.pop(0)
        body = textwrap.dedent("\n".join(block)).strip("\n").split("\n")
        if _describes(name):
            self._describe(", ".join(inline(a) or a for a in args if a), body, out)
        else:
            self._directive(name, arg, body, out)
        return j

    def _directive(self, name: str, arg: str, body: list[str], out: list[str]) -> None:
        if name in _CODE:
            out.extend(["", f"```{arg}", "\n".join(body), "```", ""])
        elif name in _DROP:
            return
        elif name == "glossary":
            self._glossary(body, out)
        elif name in _VERSION:
            content = self.lines(body)
            mark = ":" if any(x.strip() for x in content) else "."
            out.extend(["", _VERSION[name].format(arg.rstrip(".")) + mark, *content, ""])
        else:
            if arg and name not in _NO_ARG and name != "figure":
                out.extend(["", _prose(arg)])
            out.append("")
            out.extend(self.lines(body))
            out.append("")

    def _describe(self, signature: str, body: list[str], out: list[str]) -> None:
        level = self._term_level()
        self._heading(out, level, signature)
        out.extend(self.lines(body))
        self._close_terms(out, level)

    def _glossary(self, body: list[str], out: list[str]) -> None:
        """Entries: one or more unindented term lines, then the indented definition."""
        level = self._term_level()
        i = 0
        while i < len(body):
            terms: list[str] = []
            while i < len(body) and body[i].strip() and not body[i][0].isspace():
                terms.append(inline(re.split(r"\s+:\s+", body[i].strip())[0]))
                i += 1
            if not terms:
                i += 1
                continue
            self._heading(out, level, ", ".join(terms))
            definition, i = _block(body, i, 0)
            out.extend(self.lines(definition))
            while i < len(body) and not body[i].strip():
                i += 1
        self._close_terms(out, level)
