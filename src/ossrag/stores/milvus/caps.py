"""What a Milvus target can do, from its kind and version.

Used by :class:`~ossrag.stores.milvus.MilvusStore` when it connects::

    from ossrag.stores.milvus.caps import detect_capabilities

    caps = detect_capabilities("server", "v2.4.9")
    caps.bm25, caps.hybrid    # (False, True)
    caps.describe()           # 'Milvus 2.4.9 server: dense, sparse, hybrid (BM25 needs Milvus 2.5+)'

Only the kind (``"lite"`` or ``"server"``) and the version text are read, so
this needs no connection and is tested without one; what is missing is named
in ``reason`` so that callers raise a clear error instead of silently degrading.
"""

from __future__ import annotations

import re

from ..base import Capabilities

__all__ = ["detect_capabilities"]


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def detect_capabilities(kind: str, version_text: str) -> Capabilities:
    """Capabilities from the target kind and ``get_server_version()`` text.

    Milvus Lite 3.x (pure Python) implements BM25 functions, sparse vectors and
    hybrid search. Servers: sparse vectors and hybrid search from 2.4, the BM25
    function from 2.5.
    """
    ver = _version_tuple(version_text)
    shown = ".".join(map(str, ver)) if ver else (version_text or "unknown")
    if ver is None:
        return Capabilities(
            kind,
            shown,
            False,
            False,
            False,
            f"unknown version {version_text!r}; assuming dense search only",
        )
    if kind == "lite":
        ok = ver >= (3, 0, 0)
        return Capabilities(
            kind,
            shown,
            ok,
            ok,
            ok,
            "" if ok else "BM25 needs milvus-lite 3+: pip install -U milvus-lite",
        )
    sparse = ver >= (2, 4, 0)
    bm25 = ver >= (2, 5, 0)
    return Capabilities(kind, shown, bm25, sparse, sparse, "" if bm25 else "BM25 needs Milvus 2.5+")
