"""Parsers that see what a file is: compound suffixes, content sniffing, Sphinx and
MkDocs builds, terms as headings, and the per-parser counts of an ingest.

Real files come from Debian's ``sphinx-doc`` (Sphinx's own docs: HTML and
``_sources/*.rst.txt``) and ``mkdocs-literate-nav-doc`` (an MkDocs Material
build); scripts/test.sh installs both.  Without them those tests are skipped
with the apt command to run, and fail under ``OSSRAG_REQUIRE_CORPUS=1``.  The
MyST, Markdown-in-.txt and MkDocs fixtures below are small pages written for
these tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _corpus import REQUIRE, SPHINX_HTML, SPHINX_SOURCES, needs_sphinx_docs
from ossrag.ingest.chunking import chunk_document
from ossrag.ingest.loaders import detect_format, discover
from ossrag.ingest.parsers import format_for_name, parse, sniff_text
from ossrag.types import Document, RawSource, Skipped

MKDOCS_HTML = Path("/usr/share/doc/mkdocs-literate-nav-doc/html")
needs_mkdocs_doc = pytest.mark.skipif(
    not (MKDOCS_HTML / "reference.html").is_file() and not REQUIRE,
    reason="the MkDocs build is not installed: run `apt-get install mkdocs-literate-nav-doc`",
)


def doc_of(path: Path, name: str | None = None) -> Document:
    """Parse a real file the way ingest does: format from its name (or ``name``)."""
    name = name or path.name
    fmt = detect_format(name) or "text"
    return parse(RawSource(str(path.parent), name, path.read_bytes(), fmt))


def headings(doc: Document) -> list[str]:
    """Distinct heading paths of the chunks, in order."""
    return list(dict.fromkeys(c.heading for c in chunk_document(doc)))


# ---------------------------------------------------------------- names and sniffing


def test_compound_suffixes() -> None:
    assert format_for_name("_sources/usage/quickstart.rst.txt") == "rst"
    assert format_for_name("guide.md.txt") == format_for_name("a.markdown") == "markdown"
    assert format_for_name("page.mdx") == format_for_name("x.MD.TXT") == "markdown"
    assert format_for_name("notes.txt") == "text" and format_for_name("r.rest") == "rst"
    assert format_for_name("v1.2.txt") == "text"  # a version, not a format
    assert format_for_name("README") is None and format_for_name("logo.png") is None


RST_TXT = """\
Installing
==========

.. note:: You need Python 3.

Run ``pip install foo``, then see :ref:`usage`.

From source
-----------

Clone the repository.
"""

MD_TXT = """\
# Release notes

Version 2 changes the storage format; see [the guide](guide.md).

## Upgrading

```bash
tool migrate --all
```

## Known problems

None so far.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RST_TXT, "rst"),
        (MD_TXT, "markdown"),
        ("Title\n=====\n\nBody.\n\nNext\n----\n\nMore.\n", "rst"),  # setext only: both read it
        ("Line one.\n\n# not special in text\n", "text"),  # one '#' line is no evidence
        ("# comment\nfoo==1.0\n# another\nbar>=2\n", "text"),  # requirements.txt
        ("#!/bin/sh\n\n# Build\n\necho hi\n\n# Test\n\nmake test\n", "text"),  # a script
        ("Dear all,\n\nthe meeting moves to Friday.\n", "text"),
        # signs of both formats, neither twice the other: ambiguous, so plain text
        (
            "# Intro\n\n.. note:: x\n\n# Usage\n\n```\ncode\n```\n\n.. warning:: y\n\n"
            "See :ref:`a`.\n",
            "text",
        ),
    ],
)
def test_sniff_text(text: str, expected: str) -> None:
    assert sniff_text(text) == expected


def test_rst_txt_is_sniffed_and_recorded() -> None:
    doc = parse(RawSource("/o", "INSTALL.txt", RST_TXT.encode(), "text"))
    assert (doc.fmt, doc.metadata["parser"], doc.metadata["detected_by"]) == (
        "rst",
        "rst",
        "content",
    )
    assert doc.title == "Installing"
    assert headings(doc) == ["Installing", "Installing > From source"]
    assert "see usage." in doc.text and "You need Python 3." in doc.text


def test_markdown_txt_is_sniffed() -> None:
    doc = parse(RawSource("/o", "NOTES.txt", MD_TXT.encode(), "text"))
    assert (doc.fmt, doc.metadata["detected_by"]) == ("markdown", "content")
    assert headings(doc) == [
        "Release notes",
        "Release notes > Upgrading",
        "Release notes > Known problems",
    ]


def test_ambiguous_or_plain_txt_stays_text_and_never_fails() -> None:
    for data in (b"Dear all,\n\nsee you.\n", b"# a\nx=1\n", b".. comment only\n\n"):
        doc = parse(RawSource("/o", "n.txt", data, "text"))
        assert doc.fmt == "text" and doc.metadata["parser"] == "text", data
        assert doc.metadata["detected_by"] == "name"


# ---------------------------------------------------------------- Sphinx _sources (real)


@needs_sphinx_docs
def test_sphinx_sources_glossary_one_term_per_chunk() -> None:
    doc = doc_of(SPHINX_SOURCES / "glossary.rst.txt")
    assert (doc.fmt, doc.metadata["parser"], doc.title) == ("rst", "rst", "Glossary")
    chunks = chunk_document(doc)
    by_heading = {c.heading: c for c in chunks}
    for term in ("builder", "environment", "source directory", "document name", "role"):
        assert f"Glossary > {term}" in by_heading, term
    assert len(by_heading) == len(chunks) >= 14  # one chunk per (short) term
    env = by_heading["Glossary > environment"].text
    assert env.startswith("A structure where information about all documents")
    assert "pickled" in env and "builder" not in env.split("\n")[0][:10]


@needs_sphinx_docs
def test_sphinx_sources_definition_lists_and_text_after_them() -> None:
    doc = doc_of(SPHINX_SOURCES / "faq.rst.txt")
    paths = headings(doc)
    assert "Sphinx FAQ > How do I... > ... get section numbers?" in paths
    assert "Sphinx FAQ > Using Sphinx with... > Read the Docs" in paths
    assert "Sphinx FAQ > Using Sphinx with... > GitHub Pages" in paths
    # the paragraph after the "How do I..." list belongs to its section, not to the last term
    chunk = next(c for c in chunk_document(doc) if c.text.startswith("For many more extensions"))
    assert chunk.heading == "Sphinx FAQ > How do I..."
    assert "¶" not in doc.text and ":ref:" not in doc.text


@needs_sphinx_docs
def test_sphinx_sources_object_descriptions_are_headings() -> None:
    doc = doc_of(SPHINX_SOURCES / "usage" / "configuration.rst.txt")
    paths = headings(doc)
    assert "Configuration > Options for HTML output > html_theme" in paths
    assert "Configuration > Project information > project" in paths
    assert "Configuration > General configuration > today, today_fmt" in paths  # two signatures
    html_theme = next(c for c in chunk_document(doc) if c.heading.endswith("> html_theme"))
    assert "theme" in html_theme.text and "html_theme_options" not in html_theme.heading


@needs_sphinx_docs
def test_real_rst_saved_as_plain_txt_is_sniffed() -> None:
    """A real reST page named ``.txt`` reads exactly as its ``.rst.txt`` twin."""
    src = SPHINX_SOURCES / "usage" / "quickstart.rst.txt"
    twin = doc_of(src)
    sniffed = doc_of(src, name="quickstart.txt")
    assert sniffed.metadata["detected_by"] == "content" and sniffed.fmt == "rst"
    assert headings(sniffed) == headings(twin)
    assert "Getting Started > Defining document structure" in headings(twin)


# ---------------------------------------------------------------- MyST .md.txt (fixture)

MYST = """\
(intro)=
# Using the tool

Install it with {command}`pip install tool` and read {doc}`the guide <guide>`.

```{note}
Python 3.10 or later is needed.
```

```{toctree}
:maxdepth: 2
guide
faq
```

## Words

```{glossary}
shard
    One horizontal slice of a collection.

replica
    A copy of a shard on another node.
```

Terms are defined above.

```{code-block} python
import tool  # not a heading
```
"""


def test_myst_md_txt() -> None:
    doc = parse(
        RawSource("/o", "_sources/using.md.txt", MYST.encode(), detect_format("using.md.txt"))
    )
    assert (doc.fmt, doc.title) == ("markdown", "Using the tool")
    chunks = chunk_document(doc)
    by_heading = {c.heading: c.text for c in chunks}
    assert list(by_heading) == [  # "Words" has no text of its own before the glossary
        "Using the tool",
        "Using the tool > Words > shard",
        "Using the tool > Words > replica",
        "Using the tool > Words",
    ]
    first = by_heading["Using the tool"]
    assert "pip install tool" in first and "the guide" in first and "{command}" not in first
    assert "Python 3.10 or later is needed." in first and "```{note}" not in first
    assert "maxdepth" not in doc.text and "(intro)=" not in doc.text
    assert by_heading["Using the tool > Words > shard"] == "One horizontal slice of a collection."
    words = [c for c in chunks if c.heading == "Using the tool > Words"]
    assert "Terms are defined above." in words[-1].text  # not under the last term
    assert "```python\nimport tool  # not a heading\n```" in words[-1].text


# ---------------------------------------------------------------- Sphinx HTML (real)

# the related bar, the sidebar (search, page and site navigation) and the footer
SPHINX_NAV = (
    "Navigation",
    "Documentation »",
    "Quick search",
    "On this page",
    "Site navigation",
    "Created using",
    "© Copyright",
    "¶",
)


@needs_sphinx_docs
def test_sphinx_html_main_content_only() -> None:
    doc = doc_of(SPHINX_HTML / "usage" / "quickstart.html")
    assert (doc.fmt, doc.metadata["parser"], doc.metadata["generator"]) == (
        "html",
        "sphinx-html",
        "sphinx",
    )
    paths = headings(doc)
    assert paths[:3] == [
        "Getting Started",
        "Getting Started > Setting up the documentation sources",
        "Getting Started > Defining document structure",
    ]
    assert "Getting Started > Documenting objects > enumerate(sequence[, start=0])" in paths
    for noise in SPHINX_NAV:
        assert noise not in doc.text, noise
    # the sources and the HTML of one page cut into the same sections
    twin = headings(doc_of(SPHINX_SOURCES / "usage" / "quickstart.rst.txt"))
    assert [p for p in paths if "enumerate" not in p] == [p for p in twin if "enumerate" not in p]


@needs_sphinx_docs
def test_sphinx_html_glossary_terms_are_headings() -> None:
    doc = doc_of(SPHINX_HTML / "glossary.html")
    paths = headings(doc)
    assert paths == headings(doc_of(SPHINX_SOURCES / "glossary.rst.txt"))
    assert not any("¶" in p for p in paths)


# ---------------------------------------------------------------- MkDocs HTML

MKDOCS_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="generator" content="mkdocs-1.5.3, mkdocs-material-9.4.6">
<title>Configuration - Tool docs</title></head><body>
<header class="md-header"><nav class="md-header__inner"><a href="..">Tool docs</a>
<div class="md-search" role="search"><form><input placeholder="Search"></form></div></nav></header>
<div class="md-container"><main class="md-main"><div class="md-main__inner">
<div class="md-sidebar md-sidebar--primary"><nav class="md-nav"><ul>
<li><a href="../">Home</a></li><li><a href="./">Configuration</a></li></ul></nav></div>
<div class="md-sidebar md-sidebar--secondary"><nav class="md-nav md-nav--secondary">
<label>Table of contents</label><ul><li><a href="#port">port</a></li></ul></nav></div>
<div class="md-content"><article class="md-content__inner md-typeset">
<a href="https://example.org/edit/docs/config.md" title="Edit this page" class="md-content__button md-icon">
<svg viewBox="0 0 24 24"><path d="M0"/></svg></a>
<h1 id="configuration">Configuration<a class="headerlink" href="#configuration" title="Permanent link">&para;</a></h1>
<p>Settings live in <code>tool.yml</code>.</p>
<h2 id="port">port<a class="headerlink" href="#port" title="Permanent link">&para;</a></h2>
<p>The TCP port the server listens on. Default: 8080.</p>
<aside class="md-source-file"><span>Last update: 2024-01-01</span></aside>
</article></div></div></main>
<footer class="md-footer"><nav class="md-footer__inner"><a href="../">Previous Home</a></nav>
<div class="md-copyright">Made with Material for MkDocs</div></footer></div></body></html>"""

MKDOCS_NAV = (
    "Home",
    "Table of contents",
    "Edit this page",
    "Previous",
    "Made with",
    "Search",
    "Last update",
    "¶",
)


def test_mkdocs_html_fixture_main_content_only() -> None:
    doc = parse(RawSource("/o", "config/index.html", MKDOCS_PAGE.encode(), "html"))
    assert (doc.metadata["parser"], doc.metadata["generator"]) == ("mkdocs-html", "mkdocs")
    assert headings(doc) == ["Configuration", "Configuration > port"]
    for noise in MKDOCS_NAV:
        assert noise not in doc.text, noise
    assert "The TCP port the server listens on. Default: 8080." in doc.text


@needs_mkdocs_doc
def test_mkdocs_html_real_page() -> None:
    doc = doc_of(MKDOCS_HTML / "reference.html")
    assert doc.metadata["parser"] == "mkdocs-html"
    paths = headings(doc)
    assert paths[:2] == [
        "Reference > Literate nav syntax",
        "Reference > Literate nav syntax > Explicit nav mark",
    ]
    assert "Reference > MkDocs plugin > Config > nav_file" in paths
    for noise in ("Edit this page", "Table of contents", "Made with", "Initializing search", "¶"):
        assert noise not in doc.text, noise


def test_generic_html_keeps_sidebars_inside_the_article_but_drops_site_chrome() -> None:
    page = (
        b"<html><body><nav>Site menu</nav><article><h1>Post</h1><p>Body text.</p>"
        b"<aside>A real aside.</aside><a href='/e'>Edit on GitHub</a></article>"
        b"<footer>Copyright</footer></body></html>"
    )
    doc = parse(RawSource("/o", "p.html", page, "html"))
    assert doc.metadata["parser"] == "html" and "generator" not in doc.metadata
    assert "Body text." in doc.text and "A real aside." in doc.text
    for noise in ("Site menu", "Edit on GitHub", "Copyright"):
        assert noise not in doc.text


# ---------------------------------------------------------------- discovery and the ingest summary


def _tree(root: Path) -> Path:
    (root / "_sources").mkdir(parents=True)
    (root / "_sources" / "install.rst.txt").write_text(RST_TXT)
    (root / "_sources" / "using.md.txt").write_text(MYST)
    (root / "INSTALL.txt").write_text(RST_TXT)
    (root / "NOTES.txt").write_text(MD_TXT)
    (root / "letter.txt").write_text("Dear all,\n\nthe meeting moves to Friday.\n")
    (root / "README").write_text(MD_TXT)  # no extension: sniffed
    (root / "config.html").write_text(MKDOCS_PAGE)
    (root / "run").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "blob").write_bytes(bytes(range(256)) * 64)
    return root


def test_extensionless_files_are_sniffed_scripts_and_binaries_reported(tmp_path: Path) -> None:
    items = {i.source: i for i in discover(str(_tree(tmp_path)))}
    assert isinstance(items["README"], RawSource) and items["README"].fmt == "text"
    assert items["_sources/install.rst.txt"].fmt == "rst"  # type: ignore[union-attr]
    assert isinstance(items["run"], Skipped) and "script" in items["run"].reason
    assert isinstance(items["blob"], Skipped) and "binary" in items["blob"].reason
    assert parse(items["README"]).fmt == "markdown"  # type: ignore[arg-type]


def test_ingest_counts_files_per_parser(tmp_path: Path) -> None:
    from ossrag import KnowledgeBase

    root = _tree(tmp_path / "docs")
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="p") as kb:
        report = kb.ingest(str(root))
        assert report.parsers == {"rst": 2, "markdown": 3, "text": 1, "mkdocs-html": 1}
        assert report.to_dict()["parsers"] == report.parsers
        assert report.summary().endswith("parsed as 3 markdown, 2 rst, 1 mkdocs-html, 1 text")
        assert {s.source for s in report.skipped} == {"run", "blob"}
        hits = kb.search("install from source clone the repository", k=3, mode="bm25")
        top = hits[0]
        assert top.heading == "Installing > From source"
        assert top.metadata["format"] == "rst" and top.metadata["parser"] == "rst"
        assert top.metadata["detected_by"] in ("name", "content")
        again = kb.ingest(str(root))
        assert again.parsers == {} and again.unchanged == 7  # unchanged files are not parsed


def test_cli_ingest_json_has_parser_counts(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ossrag",
            "--db",
            str(tmp_path / "c.db"),
            "ingest",
            str(root),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["parsers"] == {"markdown": 3, "mkdocs-html": 1, "rst": 2, "text": 1}
    assert re.search(r"skipped 2", proc.stderr + proc.stdout) or len(data["skipped"]) == 2
