"""The corpora tests read, found once (see ``ossrag.evaluation.corpora``).

    from _corpus import MILVUS_DOCS, needs_milvus_docs, SPHINX_HTML, needs_sphinx_docs

A test marked ``needs_*`` is skipped, with the reason saying how to get the
corpus, when it is missing — unless ``OSSRAG_REQUIRE_CORPUS=1`` (set by
scripts/test.sh, so CI fails instead of skipping); then it runs and fails,
and ``test_corpora_are_present_when_required`` says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ossrag.errors import SourceError
from ossrag.evaluation import corpora

REPO = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("OSSRAG_REQUIRE_CORPUS") == "1"


def _find(finder, missing: Path) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    try:
        return finder(), ""
    except SourceError as exc:
        return missing, str(exc)


MILVUS_DOCS, MILVUS_DOCS_MISSING = _find(
    lambda: corpora.milvus_docs(REPO), REPO / "missing-milvus-docs"
)
SPHINX_HTML, SPHINX_DOCS_MISSING = _find(corpora.sphinx_html, REPO / "missing-sphinx-docs")
SPHINX_SOURCES = SPHINX_HTML / "_sources"

needs_milvus_docs = pytest.mark.skipif(
    bool(MILVUS_DOCS_MISSING) and not REQUIRE, reason=MILVUS_DOCS_MISSING
)
needs_sphinx_docs = pytest.mark.skipif(
    bool(SPHINX_DOCS_MISSING) and not REQUIRE, reason=SPHINX_DOCS_MISSING
)
