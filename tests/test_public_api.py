"""Every module's ``__all__`` is exact both ways, and the package layout keeps its imports.

``__all__`` lists every public name a module defines (functions, classes and
UPPER_CASE constants) and nothing that does not exist; the layout checks pin
where the backends' shared types live, so a third-party store or embedder
imports them from one place.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ossrag

# Every module of the package: each one says what it exports.
ALL_MODULES = [
    "ossrag",
    *sorted(
        m.name
        for m in pkgutil.walk_packages(ossrag.__path__, "ossrag.")
        if m.name != "ossrag.__main__"
    ),
]
MODULES = [
    "ossrag.ingest.loaders",
    "ossrag.ingest.parsers",
    "ossrag.stores.milvus",
    "ossrag.stores.milvus.caps",
    "ossrag.stores.milvus._errors",
    "ossrag.retrieval.lexical",
    "ossrag.llms.stream",
    "ossrag.cli",
]


@pytest.mark.parametrize("name", ALL_MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    # Empty only for a package whose __init__ defines nothing (it only holds modules).
    assert exported or not _defined_public_names(module), f"{name}.__all__ is empty"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists missing names: {missing}"


def _defined_public_names(module: object) -> set[str]:
    """Public functions, classes and UPPER_CASE constants the module's own source defines."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", ALL_MODULES)
def test_every_public_name_is_listed(name: str) -> None:
    module = importlib.import_module(name)
    unlisted = sorted(_defined_public_names(module) - set(module.__all__))
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"


@pytest.mark.parametrize("name", MODULES)
def test_imports_alone_without_cycles(name: str) -> None:
    # A fresh interpreter, so an import cycle hidden by an earlier import shows.
    subprocess.run([sys.executable, "-c", f"import {name}"], check=True)


def test_loaders_reexports_parsing() -> None:
    from ossrag.ingest import loaders, parsers

    assert loaders.parse is parsers.parse
    assert loaders.split_front_matter is parsers.split_front_matter


def test_stores_layout() -> None:
    from ossrag.stores import Capabilities, CollectionInfo, VectorStore, make_store
    from ossrag.stores.milvus import MilvusStore, caps

    assert caps.detect_capabilities("lite", "3.2.2").__class__ is Capabilities
    store = make_store("./never-opened.db")  # connects on first use only
    assert isinstance(store, MilvusStore) and isinstance(store, VectorStore)
    assert CollectionInfo.__module__ == "ossrag.stores.base"


class _MilvusLikeError(Exception):
    """Shaped like pymilvus' MilvusException: a ``code`` and a ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def test_milvus_error_reading() -> None:
    from ossrag.stores.milvus._errors import is_connection_error, looks_like_filter_error, reason

    exc = _MilvusLikeError(1100, "cannot parse expression: foo ==\n    ^\nat 1:7")
    assert reason(exc) == "cannot parse expression: foo ==; at 1:7"  # caret echo dropped
    assert looks_like_filter_error(exc, reason(exc).lower())
    assert not is_connection_error(exc, reason(exc).lower())
    down = _MilvusLikeError(2, "Fail connecting to server on 127.0.0.1:1")
    assert is_connection_error(down, reason(down).lower())
    assert reason(ValueError()) == "ValueError"
