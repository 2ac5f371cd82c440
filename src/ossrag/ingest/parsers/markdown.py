"""Markdown (CommonMark, MyST, MDX) to the Markdown-like text the chunker cuts.

    front, body = split_front_matter("---\\ntitle: FAQ\\n---\\n# FAQ\\n")
    # ({'title': 'FAQ'}, '# FAQ\\n')
    text, title, meta = markdown_to_text(body, "faq.md")

Markdown mostly stays as it is; what goes: YAML front matter (``title``
becomes the title, ``id``/``summary`` go to metadata), MyST's ``(label)=``
targets and ``{role}`text``` markup, MDX's ``import``/``export`` lines.
MyST directives written as fences (```` ```{note} ````, ``:::{tip}``) are
unfenced so their text is prose, not code: ``{code-block} python`` becomes a
``python`` code fence, ``{toctree}``/``{contents}``/``{image}`` disappear,
and ``{glossary}`` entries become one heading per term, one level below the
section (so each term is its own chunk).
"""

from __future__ import annotations

import re

from ._text import REOPEN, reopen_sections

__all__ = ["first_h1", "markdown_to_text", "split_front_matter"]

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
_KEY = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,}|:{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(\S.*)$")
_MYST_DIRECTIVE = re.compile(r"^\{([\w:-]+)\}\s*(.*)$")
_MYST_ROLE = re.compile(r"\{[\w:-]+\}`([^`<]*?)\s*(?:<[^`>]*>)?`")
_MYST_CODE = {"code-block", "code", "sourcecode", "code-cell"}
_MYST_DROP = {
    "toctree",
    "contents",
    "image",
    "figure",
    "include",
    "literalinclude",
    "index",
    "raw",
    "highlight",
    "tableofcontents",
    "only",
}
_MDX_STATEMENT = re.compile(
    r"^(?:import\s.+\sfrom\s+['\"].+['\"]|import\s+['\"].+['\"]|export\s+.+);?\s*$"
)


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


def first_h1(text: str) -> str:
    """Text of the first ``# `` heading outside code fences, or ``""``."""
    fence = None
    for line in text.split("\n"):
        fm = re.match(r" {0,3}(```+|~~~+)", line)
        if fm:
            fence = None if fence and fm.group(1).startswith(fence) else (fence or fm.group(1))
        elif fence is None and line.startswith("# "):
            return line[2:].strip().rstrip("#").strip()
    return ""


def markdown_to_text(text: str, source: str = "") -> tuple[str, str, dict[str, str]]:
    """(text, title, metadata) of a Markdown document (see the module docstring)."""
    front, body = split_front_matter(text)
    meta = {k: front[k] for k in ("id", "summary") if front.get(k)}
    mdx = source.lower().endswith(".mdx")
    if "{" in body or ")=" in body or mdx:
        body = reopen_sections("\n".join(_myst_lines(body.split("\n"), (0, ""), mdx=mdx)))
    return body, front.get("title", "") or first_h1(body), meta


def _closing(lines: list[str], i: int, marker: str) -> int:
    """Index of the line that closes the fence opened with ``marker`` at line i-1."""
    for j in range(i, len(lines)):
        m = _FENCE.match(lines[j])
        if (
            m
            and m.group(2)[0] == marker[0]
            and len(m.group(2)) >= len(marker)
            and not m.group(3).strip()
        ):
            return j
    return len(lines)


def _myst_lines(lines: list[str], section: tuple[int, str], *, mdx: bool = False) -> list[str]:
    """MyST/MDX markup resolved; ``section`` is the (level, text) of the heading above."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fm = _FENCE.match(line)
        if fm:
            end = _closing(lines, i + 1, fm.group(2))
            directive = _MYST_DIRECTIVE.match(fm.group(3).strip())
            if directive:
                out.extend(_myst_directive(directive, lines[i + 1 : end], section))
            else:  # plain code: untouched
                out.extend(lines[i : end + 1])
            i = end + 1
            continue
        atx = _ATX.match(line)
        if atx:
            section = (len(atx.group(1)), atx.group(2))
        if re.fullmatch(r"\(\s*[\w.:-]+\s*\)=\s*", line) or (mdx and _MDX_STATEMENT.match(line)):
            i += 1  # a MyST target or an MDX import/export
            continue
        out.append(_MYST_ROLE.sub(r"\1", line))
        i += 1
    return out


def _myst_directive(m: re.Match[str], body: list[str], section: tuple[int, str]) -> list[str]:
    name, arg = m.group(1).lower(), m.group(2).strip()
    while body and re.match(r"\s*:[\w-]+:", body[0]):  # directive options
        body = body[1:]
    if name in _MYST_DROP:
        return []
    if name in _MYST_CODE:
        return ["", f"```{arg}", *body, "```", ""]
    inner = _myst_lines(body, section)
    if name == "glossary":
        return _glossary(inner, section)
    return ["", arg, "", *inner, ""] if arg else ["", *inner, ""]


def _glossary(lines: list[str], section: tuple[int, str]) -> list[str]:
    """Glossary entries (unindented terms, indented definitions) as headings one level down."""
    out: list[str] = []
    terms: list[str] = []
    level, heading = section
    hashes = "#" * min(level + 1, 6)
    for line in lines:
        if line.strip() and not line[0].isspace():
            terms.append(line.strip())
            continue
        if terms:
            out.extend(["", f"{hashes} {', '.join(terms)}", ""])
            terms = []
        out.append(line[4:] if line.startswith("    ") else line.strip())
    if terms:
        out.extend(["", f"{hashes} {', '.join(terms)}", ""])
    if level:  # back in the section for whatever follows the glossary
        out.extend(["", REOPEN + "#" * level + " " + heading, ""])
    return out
