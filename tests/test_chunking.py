"""Chunker: heading paths, code fences, splitting with overlap, the whole shared corpus."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest

from _corpus import MILVUS_DOCS, needs_milvus_docs
from ossrag.errors import ConfigError
from ossrag.ingest.chunking import chunk_document, is_meaningful, split_text
from ossrag.ingest.loaders import discover, parse
from ossrag.types import Document, RawSource

CORPUS = MILVUS_DOCS
PRODUCT_FAQ = CORPUS / "en" / "faq" / "product_faq.md"
needs_corpus = needs_milvus_docs


def md(text: str, title: str = "", fmt: str = "markdown") -> Document:
    return Document("/origin", "doc.md", text, fmt, "hash", title)


def load(path: Path) -> Document:
    raw = RawSource(str(path.parent), path.name, path.read_bytes(), "markdown")
    return parse(raw)


def fences_balanced(text: str) -> bool:
    """Every opening fence has its closing fence (the chunk is valid Markdown code-wise)."""
    fence = None
    for line in text.split("\n"):
        m = re.match(r" {0,3}(`{3,}|~{3,})(.*)$", line)
        if not m or (fence is None and m.group(1)[0] == "`" and "`" in m.group(2)):
            continue
        if fence is None:
            fence = m.group(1)
        elif m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
            fence = None
    return fence is None


# ---------------------------------------------------------------- the FAQ


@needs_corpus
def test_product_faq_one_chunk_per_question() -> None:
    doc = load(PRODUCT_FAQ)
    chunks = chunk_document(doc)
    by_heading = {c.heading: c for c in chunks}
    store = by_heading["Product FAQ > Where does Milvus store data?"]
    assert "persistent storage" in store.text and "etcd" in store.text
    assert not store.text.startswith("#")  # the heading line is not repeated in the text
    assert store.embed_text.startswith("Product FAQ > Where does Milvus store data?\n\n")
    assert store.metadata["title"] == "Product FAQ"
    # Every question (#### in the file, counted independently) is its own chunk.
    questions = re.findall(r"^#### +(.+?)\s*$", PRODUCT_FAQ.read_text(encoding="utf-8"), re.M)
    assert len(questions) > 10
    for q in questions:
        assert f"Product FAQ > {q}" in by_heading, q
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))


# ---------------------------------------------------------------- sections


def test_heading_paths_and_levels() -> None:
    text = (
        "Intro before any heading.\n\n# Guide\n\nGuide intro.\n\n## Install\n\n"
        "### Linux\n\nUse apt.\n\n#### Note {#note}\n\nA note.\n\n## Use\n\nRun it. ##\n\n"
        "# Appendix #\n\nThe end.\n"
    )
    chunks = chunk_document(md(text, title="The Guide"))
    assert [(c.heading, c.text) for c in chunks] == [
        ("The Guide", "Intro before any heading."),
        ("Guide", "Guide intro."),
        ("Guide > Install > Linux", "Use apt."),  # "Install" has no body: no chunk
        ("Guide > Install > Linux > Note", "A note."),
        ("Guide > Use", "Run it. ##"),
        ("Appendix", "The end."),
    ]
    assert all(c.metadata == {"title": "The Guide"} for c in chunks)


def test_hash_lines_in_code_fences_are_not_headings() -> None:
    text = (
        "# Setup\n\n```bash\n# install it\npip install pymilvus\n```\n\n"
        "~~~~python\n# comment\n~~~\n## still code, the fence needs 4 tildes\n~~~~\n\n"
        "## Next\n\nafter\n"
    )
    chunks = chunk_document(md(text))
    assert [c.heading for c in chunks] == ["Setup", "Setup > Next"]
    assert "# install it" in chunks[0].text and "## still code" in chunks[0].text


def test_setext_headings() -> None:
    text = "Title\n=====\n\nbody one\n\nPart\n----\n\nbody two\n\nA paragraph\nof two lines\n---\n"
    chunks = chunk_document(md(text))
    assert [(c.heading, c.text.split("\n")[0]) for c in chunks] == [
        ("Title", "body one"),
        ("Title > Part", "body two"),
    ]


def test_hashtag_without_space_is_not_a_heading() -> None:
    chunks = chunk_document(md("# Tags\n\n#milvus #vectors\n"))
    assert [(c.heading, c.text) for c in chunks] == [("Tags", "#milvus #vectors")]


def test_no_empty_or_separator_only_chunks() -> None:
    text = (
        "---\ntitle: Fm\n---\n\n# A\n\n---\n\n# B\n\n***\n\n<!-- hidden\ncomment -->\n\n"
        '# C\n\n   \n\n# D\n\n<div class="x"></div>\n\n# E\n\n{{tab}}\n\n# F\n\nreal text\n'
    )
    chunks = chunk_document(md(text))
    assert [(c.heading, c.text) for c in chunks] == [("F", "real text")]
    assert not any("title: Fm" in c.text for c in chunks)  # front matter stripped defensively


def test_html_and_rst_documents_are_cut_at_their_headings() -> None:
    html = b"<title>T</title><h1>Top</h1><p>one</p><h2>Sub</h2><pre># code\n</pre><p>two</p>"
    doc = parse(RawSource("/o", "p.html", html, "html"))
    assert [(c.heading, c.text) for c in chunk_document(doc)] == [
        ("Top", "one"),
        ("Top > Sub", "```\n# code\n```\n\ntwo"),
    ]
    rst = b"Top\n===\n\none\n\nSub\n---\n\ntwo\n"
    doc = parse(RawSource("/o", "p.rst", rst, "rst"))
    assert [(c.heading, c.text) for c in chunk_document(doc)] == [
        ("Top", "one"),
        ("Top > Sub", "two"),
    ]


# ---------------------------------------------------------------- splitting


SENTENCES = [f"Sentence number {i} talks about vector search in Milvus." for i in range(60)]


def test_long_section_is_split_with_overlap() -> None:
    paragraphs = [" ".join(SENTENCES[i : i + 5]) for i in range(0, 60, 5)]
    text = "# Long\n\n" + "\n\n".join(paragraphs) + "\n\n# Short\n\nsmall\n"
    chunks = chunk_document(md(text), chunk_size=300, chunk_overlap=80)
    long = [c for c in chunks if c.heading == "Long"]
    assert len(long) > 5
    assert all(len(c.text) <= 300 for c in chunks)
    assert [c.metadata["section_part"] for c in long] == [
        f"{i}/{len(long)}" for i in range(1, len(long) + 1)
    ]
    assert "section_part" not in chunks[-1].metadata and chunks[-1].text == "small"
    for prev, nxt in itertools.pairwise(long):
        # The next piece opens with the end of the previous one, cut at a boundary.
        head = nxt.text[:80]
        overlap = max(k for k in range(len(head) + 1) if prev.text.endswith(nxt.text[:k]))
        assert overlap >= 20, (prev.text, nxt.text)
        assert nxt.text[:overlap].split()[0] in prev.text.split()  # starts at a word
    # Nothing lost, order kept.
    joined = " ".join(c.text for c in long)
    positions = [joined.find(s) for s in SENTENCES]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)


def test_no_overlap() -> None:
    text = "\n\n".join(SENTENCES)
    pieces = split_text(text, 200, 0)
    assert all(len(p) <= 200 for p in pieces)
    assert "\n\n".join(pieces) == text  # without overlap the pieces tile the text


def test_code_block_that_fits_stays_whole() -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(20)) + "\n```"
    prose = " ".join(SENTENCES[:8])
    text = f"# S\n\n{prose}\n\n{code}\n\n{prose}\n"
    chunks = chunk_document(md(text), chunk_size=500, chunk_overlap=50)
    assert len(chunks) > 2
    assert sum(code in c.text for c in chunks) == 1
    assert all(fences_balanced(c.text) for c in chunks)


def test_long_code_block_is_split_at_lines_and_refenced() -> None:
    lines = [f"print('line {i} of a long script')" for i in range(80)]
    text = "# Script\n\n```python\n" + "\n".join(lines) + "\n```\n"
    chunks = chunk_document(md(text), chunk_size=400, chunk_overlap=100)
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= 400
        assert c.text.startswith("```python\n") and c.text.endswith("\n```")
        assert fences_balanced(c.text)
    inner = [line for c in chunks for line in c.text.split("\n")[1:-1]]
    assert inner == lines  # every line exactly once, in order, none cut


def test_giant_word_is_hard_cut() -> None:
    pieces = split_text("a" * 1000, 300, 50)
    assert all(len(p) <= 300 for p in pieces)
    assert "".join(p.replace(" ", "") for p in pieces).count("a") >= 1000


# ---------------------------------------------------------------- other splitters


def test_paragraph_splitter_for_text_and_pdf() -> None:
    text = "\n\n".join(SENTENCES[:30])
    for fmt in ("text", "pdf"):
        doc = md(text, title="Notes", fmt=fmt)
        chunks = chunk_document(doc, chunk_size=400, chunk_overlap=0)  # auto -> paragraph
        assert len(chunks) > 1
        assert all(c.heading == "Notes" and len(c.text) <= 400 for c in chunks)
        assert "\n\n".join(c.text for c in chunks) == text
    # "# " in a text file is not a heading for the paragraph splitter.
    chunks = chunk_document(md("# not a heading\n\nbody\n", fmt="text"))
    assert [(c.heading, c.text) for c in chunks] == [("", "# not a heading\n\nbody")]


@needs_corpus
def test_tutorial_splitter_matches_the_tutorial() -> None:
    doc = load(PRODUCT_FAQ)
    expected = [p for p in doc.text.split("# ") if p.strip()]
    chunks = chunk_document(doc, splitter="tutorial")
    assert [c.text for c in chunks] == expected
    assert all(c.heading == "" for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(expected)))


def test_bad_parameters() -> None:
    doc = md("# A\n\ntext\n")
    with pytest.raises(ConfigError, match="unknown splitter"):
        chunk_document(doc, splitter="semantic")
    with pytest.raises(ConfigError, match="too small"):
        chunk_document(doc, chunk_size=10)
    with pytest.raises(ConfigError, match="overlap"):
        chunk_document(doc, chunk_size=200, chunk_overlap=200)
    # A default overlap larger than half a small chunk size is capped, not refused.
    assert chunk_document(doc, chunk_size=100, chunk_overlap=150 - 60)


def test_is_meaningful() -> None:
    for junk in ("", "  \n", "---", "***\n___", "<!-- x -->", "<br/>", "{{tab}}", "{% raw %}"):
        assert not is_meaningful(junk), junk
    for text in ("a", "`x`", "1.", "<b>bold</b>"):
        assert is_meaningful(text), text


# ---------------------------------------------------------------- the whole corpus


@needs_corpus
@pytest.mark.parametrize(("size", "overlap"), [(1200, 150), (300, 60)])
def test_whole_corpus(size: int, overlap: int) -> None:
    started = time.perf_counter()
    docs = [parse(raw) for raw in discover(str(CORPUS), include=["**/*.md"])]  # type: ignore[arg-type]
    assert len(docs) >= 269
    total = empty = 0
    for doc in docs:
        chunks = chunk_document(doc, chunk_size=size, chunk_overlap=overlap)
        if not chunks:  # only legitimate for a page that is nothing but headings
            body = re.sub(r"^#+ .*$", "", doc.text, flags=re.M)
            assert not is_meaningful(body), doc.source
            empty += 1
        assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            assert is_meaningful(c.text), (doc.source, c.heading, c.text)
            assert c.text == c.text.strip("\n") and c.text.strip()
            assert len(c.text) <= size, (doc.source, len(c.text))
            assert not re.fullmatch(r"[\s\-*_=#>|]*", c.text)
        total += len(chunks)
    assert total > len(docs) and empty < 5
    assert time.perf_counter() - started < 30
