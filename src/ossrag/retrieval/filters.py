"""Search filters: ``--filter``, ``--source`` and ``--meta`` as one Milvus boolean expression.

    build_filter('chunk_index < 3', "en/faq/*", {"lang": "en"})
    # '(chunk_index < 3) and source like "en/faq/%" and metadata["lang"] == "en"'
    parse_meta(["lang=en", "team = core"])     # {'lang': 'en', 'team': 'core'}

Used by every front end (the CLI's flags, the server's request fields), so a
filter means the same wherever it is written. Milvus checks the expression
itself; a bad one raises :class:`~ossrag.errors.FilterError` with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigError, FilterError

__all__ = ["build_filter", "glob_to_like", "parse_meta"]


def parse_meta(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict; a missing ``=`` or key is a :class:`ConfigError`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid --meta {item!r}", hint="use KEY=VALUE, e.g. --meta lang=en")
        out[key.strip()] = value.strip()
    return out


def _escape(text: str) -> str:
    """``text`` inside a Milvus string literal: ``\\``, ``"`` and line breaks escaped.

    Milvus knows only a few escapes (no ``\\uXXXX``: ``json.dumps`` would make
    ``é`` unsearchable), and a raw line break ends the literal.
    """
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return out.replace("\n", "\\n").replace("\r", "\\r")


def glob_to_like(glob: str) -> str:
    """A shell-style glob (``*``, ``**``, ``?``) as a Milvus ``like`` pattern, quoted safely."""
    like = _escape(glob).replace("%", "\\%")
    return like.replace("**", "*").replace("*", "%").replace("?", "_")


def build_filter(
    expr: str = "", source_glob: str | None = None, meta: Mapping[str, str] | None = None
) -> str:
    """Combine a raw expression, a source glob and metadata equalities with ``and``."""
    parts = [f"({expr})"] if expr else []
    if source_glob:
        parts.append(f'source like "{glob_to_like(source_glob)}"')
    for key, value in (meta or {}).items():
        if not key.replace("_", "").isalnum():
            raise FilterError(f"invalid metadata key {key!r}", hint="use letters, digits and _")
        parts.append(f'metadata["{key}"] == "{_escape(value)}"')
    return " and ".join(parts)
