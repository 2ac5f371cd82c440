"""What a Milvus target can do, from its kind and version.

Used by :class:`~ossrag.store.MilvusStore` when it connects; import
:class:`Capabilities` from :mod:`ossrag.store`, which re-exports it::

    from ossrag.store_caps import detect_capabilities

    caps = detect_capabilities("server", "v2.4.9")
    caps.bm25, caps.hybrid    # (False, True)
    caps.describe()           # 'Milvus 2.4.9 server: dense, sparse, hybrid (BM25 needs Milvus 2.5+)'

Only the kind (``"lite"`` or ``"server"``) and the version text are read, so
this needs no connection and is tested without one; what is missing is named
in ``reason`` so that callers raise a clear error instead of silently degrading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Capabilities", "detect_capabilities"]


@dataclass
class Capabilities:
    """What the Milvus target can do; ``reason`` explains what is missing."""

    kind: str  # "lite" | "server"
    server_version: str
    bm25: bool
    sparse: bool
    hybrid: bool
    reason: str = ""

    def describe(self) -> str:
        """One line for ``ossrag doctor``, e.g. ``Milvus Lite 3.2.2: dense, BM25, hybrid``."""
        name = (
            f"Milvus Lite {self.server_version}"
            if self.kind == "lite"
            else f"Milvus {self.server_version} server"
        )
        feats = ["dense"] + [f for f, ok in (("BM25", self.bm25), ("hybrid", self.hybrid)) if ok]
        if self.sparse and not self.bm25:
            feats.insert(1, "sparse")
        text = f"{name}: {', '.join(feats)}" if len(feats) > 1 else f"{name}: dense only"
        return f"{text} ({self.reason})" if self.reason else text


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
        return Capabilities(kind, shown, False, False, False,
                            f"unknown version {version_text!r}; assuming dense search only")
    if kind == "lite":
        ok = ver >= (3, 0, 0)
        return Capabilities(kind, shown, ok, ok, ok,
                            "" if ok else "BM25 needs milvus-lite 3+: pip install -U milvus-lite")
    sparse = ver >= (2, 4, 0)
    bm25 = ver >= (2, 5, 0)
    return Capabilities(kind, shown, bm25, sparse, sparse,
                        "" if bm25 else "BM25 needs Milvus 2.5+")
