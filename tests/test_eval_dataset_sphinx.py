"""The second hand-labelled dev set: Sphinx's own documentation (Debian's ``sphinx-doc``).

The corpus is ``html/_sources/**/*.rst.txt`` of the package (93 pages, about
650 KB of reST), found by :func:`ossrag.evaluation.corpora.sphinx_docs`; it is
never copied into the repository.  Like the Milvus set's checks, these guard
the labels against typos and corpus changes: every ``relevant`` item names a
real file, or text that really is a heading there (a section title, a glossary
or definition-list term, a directive's signature — checked on the raw reST,
not through ossrag's parser), and at least one chunk that ossrag's own chunker
cuts matches it, and no heading label is loose.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from _corpus import SPHINX_SOURCES, needs_sphinx_docs
from ossrag.evaluation.datasets import Question, load_questions

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "bench" / "data" / "sphinx_docs_questions.jsonl"

_ADORN = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,;/?@|])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::\s*(.*)$")


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(DATASET)


def test_dev_set_shape(questions: list[Question]) -> None:
    assert len(questions) >= 60
    langs = Counter(q.lang for q in questions)
    others = {lang: n for lang, n in langs.items() if lang != "en"}
    assert sum(others.values()) >= 12 and len(others) >= 4, langs
    kinds = Counter(q.extra.get("kind") for q in questions)
    assert set(kinds) == {"docs", "faq", "definition"}, kinds
    assert kinds["definition"] >= 5 and kinds["faq"] >= 8, kinds
    assert all(q.relevant for q in questions), "every dev-set question is labelled"
    texts = [q.question.casefold() for q in questions]
    assert len(set(texts)) == len(texts), "no duplicate questions"


def test_questions_are_paraphrases_not_headings(questions: list[Question]) -> None:
    for q in questions:
        for item in q.relevant:
            last = item.split(" > ")[-1].casefold().strip(" ?.")
            assert q.question.casefold().strip(" ?.") != last, q.question


def _plain(line: str) -> str:
    """A raw reST line without inline markup, folded for comparison."""
    line = re.sub(r":[\w:+-]+:`([~!]?)([^`<]*?)\s*(?:<[^`>]*>)?`", r"\2", line)
    line = re.sub(r"`([^`<]+?)\s*(?:<[^`>]*>)?`_{1,2}", r"\1", line)
    line = line.replace("``", "").replace("**", "").replace("\\", "")
    return " ".join(line.split()).casefold()


def _heading_lines(text: str) -> list[str]:
    """Lines of raw reST that can be headings: titles, terms, directive signatures."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and not _ADORN.match(line) and _ADORN.match(nxt):
            out.append(line)  # a section title
        elif (m := _DIRECTIVE.match(line)) and m.group(1):
            out.append(m.group(1))  # a directive's signature
        elif (
            line.strip()
            and nxt.strip()
            and len(nxt) - len(nxt.lstrip()) > len(line) - len(line.lstrip())
        ):
            out.append(line)  # a term: a line followed by an indented definition
    return [_plain(h) for h in out]


@pytest.fixture(scope="module")
def corpus_index() -> dict[str, list[str]]:
    files = sorted(SPHINX_SOURCES.rglob("*.rst.txt"))
    return {
        p.relative_to(SPHINX_SOURCES).as_posix(): _heading_lines(p.read_text("utf-8"))
        for p in files
    }


def _resolves(item: str, index: dict[str, list[str]]) -> bool:
    if item.endswith(".rst.txt"):
        return item in index
    parts = [" ".join(p.split()).casefold() for p in item.split(" > ")]
    for lines in index.values():
        pos = 0  # every part in a heading line, in order, within one file
        for part in parts:
            pos = next((i + 1 for i in range(pos, len(lines)) if part in lines[i]), -1)
            if pos < 0:
                break
        if pos > 0:
            return True
    return False


@needs_sphinx_docs
def test_every_label_names_a_real_file_or_heading(
    questions: list[Question], corpus_index: dict[str, list[str]]
) -> None:
    assert len(corpus_index) >= 90
    bad = [
        (q.question, item)
        for q in questions
        for item in q.relevant
        if not _resolves(item, corpus_index)
    ]
    assert not bad, f"labels that match no file and no heading line: {bad}"


@needs_sphinx_docs
def test_every_label_matches_a_chunk(questions: list[Question]) -> None:
    """What evaluation compares against: the sources and heading paths of real chunks."""
    from ossrag.evaluation.metrics import matches
    from ossrag.ingest.chunking import chunk_document
    from ossrag.ingest.loaders import discover, parse
    from ossrag.types import Skipped

    chunks: list[dict[str, str]] = []
    for raw in discover(str(SPHINX_SOURCES), include=["**/*.rst.txt"]):
        assert not isinstance(raw, Skipped), raw
        doc = parse(raw)
        assert doc.fmt == "rst" and doc.metadata["parser"] == "rst"
        chunks.extend({"source": doc.source, "heading": c.heading} for c in chunk_document(doc))
    assert len(chunks) > 1200
    counts = {
        (q.question, item): sum(1 for c in chunks if matches(c, item))
        for q in questions
        for item in q.relevant
    }
    unmatched = [key for key, n in counts.items() if n == 0]
    assert not unmatched, f"labels no chunk matches: {unmatched}"
    loose = [key for key, n in counts.items() if not key[1].endswith(".rst.txt") and n > 30]
    assert not loose, f"heading labels that match too many chunks: {loose}"
