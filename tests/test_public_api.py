"""Every name a module lists in ``__all__`` exists, and split modules keep old imports.

``loaders`` and ``store`` were each split in two; callers (sync, chunking, the
benches, users' scripts) import from the old paths, so those must keep
resolving to the very same objects.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import ossrag

# Every module of the package: each one says what it exports.
ALL_MODULES = ["ossrag", *sorted(
    m.name for m in pkgutil.walk_packages(ossrag.__path__, "ossrag.")
    if not m.ispkg and m.name != "ossrag.__main__"
)]
MODULES = [
    "ossrag.ingest.loaders",
    "ossrag.ingest.parsers",
    "ossrag.store",
    "ossrag.store_caps",
    "ossrag._milvus_errors",
    "ossrag.lexical",
]


@pytest.mark.parametrize("name", ALL_MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported, f"{name}.__all__ is empty"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists missing names: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_imports_alone_without_cycles(name: str) -> None:
    # A fresh interpreter, so an import cycle hidden by an earlier import shows.
    subprocess.run([sys.executable, "-c", f"import {name}"], check=True)


def test_loaders_reexports_parsing() -> None:
    from ossrag.ingest import loaders, parsers

    assert loaders.parse is parsers.parse
    assert loaders.split_front_matter is parsers.split_front_matter


def test_store_reexports_capabilities_and_error_helpers() -> None:
    from ossrag import _milvus_errors, store, store_caps

    assert store.Capabilities is store_caps.Capabilities
    assert store.detect_capabilities is store_caps.detect_capabilities
    assert store._reason is _milvus_errors.reason
    assert store._is_connection_error is _milvus_errors.is_connection_error
    assert store._looks_like_filter_error is _milvus_errors.looks_like_filter_error
    assert store._lite_failure is _milvus_errors.lite_failure
    assert store._quiet_pymilvus is _milvus_errors.quiet_pymilvus
    # Private names that tests and bench/ import from ossrag.store.
    for private in ("_clip", "_hit", "_quote", "_ossrag_version"):
        assert callable(getattr(store, private)), private
    assert callable(store.MilvusStore._call)


class _MilvusLikeError(Exception):
    """Shaped like pymilvus' MilvusException: a ``code`` and a ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def test_milvus_error_reading() -> None:
    from ossrag._milvus_errors import is_connection_error, looks_like_filter_error, reason

    exc = _MilvusLikeError(1100, "cannot parse expression: foo ==\n    ^\nat 1:7")
    assert reason(exc) == "cannot parse expression: foo ==; at 1:7"  # caret echo dropped
    assert looks_like_filter_error(exc, reason(exc).lower())
    assert not is_connection_error(exc, reason(exc).lower())
    down = _MilvusLikeError(2, "Fail connecting to server on 127.0.0.1:1")
    assert is_connection_error(down, reason(down).lower())
    assert reason(ValueError()) == "ValueError"
