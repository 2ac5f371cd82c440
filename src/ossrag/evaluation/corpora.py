"""Where the evaluation corpora are: one place for tests, benchmarks and docs.

    from ossrag.evaluation.corpora import milvus_docs, sphinx_docs

    root = milvus_docs()          # .../milvus_docs with en/faq/*.md; raises SourceError
    sources = sphinx_docs()       # /usr/share/doc/sphinx-doc/html/_sources (apt package)

**The Milvus docs** (the tutorial's corpus, the first dev set's) are looked
for in this order:

1. ``$OSSRAG_CORPUS`` — a directory holding ``en/``;
2. ``shared/corpora/milvus_docs`` in the start directory or any directory
   above it (so ``../shared/corpora/milvus_docs`` beside a clone is found
   from anywhere inside the clone);
3. the cache (``$OSSRAG_CACHE_DIR`` or ``~/.cache/ossrag``), where
4. the tutorial's release zip (:data:`MILVUS_DOCS_URL`) is downloaded and
   unpacked once, when ``download`` is true and the network allows.

**The Sphinx docs** (the second dev set's corpus) come from Debian's
``sphinx-doc`` package, never from the repository: ``$OSSRAG_SPHINX_DOCS``
(the ``html`` directory of such a build), else ``/usr/share/doc/sphinx-doc/html``.

Both raise :class:`~ossrag.errors.SourceError` with a hint that says how to
get the corpus.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from ..errors import SourceError

__all__ = [
    "MILVUS_DOCS_URL",
    "SPHINX_DOCS_APT",
    "milvus_docs",
    "sphinx_docs",
    "sphinx_html",
]

MILVUS_DOCS_URL = (
    "https://github.com/milvus-io/milvus-docs/releases/download/v2.4.6-preview/"
    "milvus_docs_2.4.x_en.zip"
)
SPHINX_DOCS_APT = "apt-get install sphinx-doc"
_SPHINX_HTML = Path("/usr/share/doc/sphinx-doc/html")


def _is_milvus_docs(path: Path) -> bool:
    return (path / "en" / "faq").is_dir()


def _cache_dir() -> Path:
    return Path(os.environ.get("OSSRAG_CACHE_DIR") or Path.home() / ".cache" / "ossrag")


def milvus_docs(
    start: str | Path | None = None,
    *,
    download: bool = True,
    cache_dir: str | Path | None = None,
    url: str = MILVUS_DOCS_URL,
    timeout: float = 30.0,
) -> Path:
    """The Milvus docs directory (holding ``en/``), found or downloaded once (see module doc)."""
    env = os.environ.get("OSSRAG_CORPUS")
    if env:
        path = Path(env).expanduser()
        if not _is_milvus_docs(path):
            raise SourceError(
                f"OSSRAG_CORPUS={env} is not the Milvus docs (no en/faq directory in it)",
                hint="point it at the unpacked milvus_docs directory, or unset it",
            )
        return path.resolve()
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "shared" / "corpora" / "milvus_docs"
        if _is_milvus_docs(candidate):
            return candidate
    cached = Path(cache_dir or _cache_dir()) / "corpora" / "milvus_docs"
    if _is_milvus_docs(cached):
        return cached
    hint = (
        "put the docs at ../shared/corpora/milvus_docs beside the clone, set OSSRAG_CORPUS, "
        f"or go online once so the release zip is downloaded ({url})"
    )
    if not download:
        raise SourceError("the Milvus docs corpus was not found", hint=hint)
    if (url, cached) in _FAILED:  # tried in this process already: do not wait again
        raise _FAILED[(url, cached)]
    try:
        return _download(url, cached, timeout, hint)
    except SourceError as exc:
        _FAILED[(url, cached)] = exc
        raise


_FAILED: dict[tuple[str, Path], SourceError] = {}


@lru_cache(maxsize=8)
def _download(url: str, target: Path, timeout: float, hint: str) -> Path:
    """Fetch the zip into ``target``'s parent and unpack it as ``target`` (atomically)."""
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        archive = Path(tmp) / "corpus.zip"
        try:
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
                if resp.status_code >= 400:
                    raise SourceError(
                        f"the Milvus docs corpus was not found, and {url} answered "
                        f"HTTP {resp.status_code}",
                        hint=hint,
                    )
                with open(archive, "wb") as fh:
                    for block in resp.iter_bytes():
                        fh.write(block)
        except httpx.HTTPError as exc:
            raise SourceError(
                f"the Milvus docs corpus was not found, and downloading it failed: {exc}",
                hint=hint,
            ) from exc
        unpacked = Path(tmp) / "milvus_docs"
        try:
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    parts = name.replace("\\", "/").split("/")
                    if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                        raise SourceError(f"unsafe path {name!r} in {url}", hint=hint)
                zf.extractall(unpacked)
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{url} did not return a zip archive: {exc}", hint=hint) from exc
        inner = [p for p in unpacked.iterdir() if p.is_dir()]
        if not _is_milvus_docs(unpacked) and len(inner) == 1 and _is_milvus_docs(inner[0]):
            unpacked = inner[0]  # the archive wraps everything in one folder
        if not _is_milvus_docs(unpacked):
            raise SourceError(f"{url} does not hold the Milvus docs (no en/faq in it)", hint=hint)
        if not _is_milvus_docs(target):  # another process may have won the race
            if target.exists():
                shutil.rmtree(target)
            os.replace(unpacked, target)
    return target


def sphinx_html() -> Path:
    """The HTML build of Sphinx's own documentation, from Debian's ``sphinx-doc`` package."""
    env = os.environ.get("OSSRAG_SPHINX_DOCS")
    path = Path(env).expanduser() if env else _SPHINX_HTML
    if not (path / "_sources" / "glossary.rst.txt").is_file():
        where = f"OSSRAG_SPHINX_DOCS={env}" if env else str(path)
        raise SourceError(
            f"the Sphinx documentation corpus is not installed ({where} has no _sources/glossary.rst.txt)",
            hint=f"run `{SPHINX_DOCS_APT}` as root (Debian/Ubuntu), or set OSSRAG_SPHINX_DOCS "
            "to the html directory of a Sphinx docs build",
        )
    return path


def sphinx_docs() -> Path:
    """The reST sources of Sphinx's documentation (``html/_sources``, ``*.rst.txt``): the second dev set."""
    return sphinx_html() / "_sources"
