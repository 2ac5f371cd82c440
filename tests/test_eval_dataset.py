"""The hand-labelled Milvus docs dev set, and the JSONL loader's error messages.

The label checks guard the hand labels against typos and corpus changes: every
``relevant`` item must name a real file of the shared corpus or text that
really is a heading there, and must be matched by at least one chunk that
ossrag's own chunker cuts from the corpus (which is what evaluation sees).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from _corpus import MILVUS_DOCS, needs_milvus_docs
from ossrag.errors import ConfigError
from ossrag.evaluation.datasets import Question, load_questions, parse_question

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "bench" / "data" / "milvus_docs_questions.jsonl"
CORPUS = MILVUS_DOCS
EN = CORPUS / "en"
needs_corpus = needs_milvus_docs

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$")


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(DATASET)


# ------------------------------------------------------------------ the dev set


def test_dev_set_shape(questions: list[Question]) -> None:
    assert len(questions) >= 70
    assert questions[0].question == "How is data stored in milvus?"  # the tutorial's question
    langs = Counter(q.lang for q in questions)
    assert sum(n for lang, n in langs.items() if lang != "en") >= 12, langs
    assert len([lang for lang in langs if lang != "en"]) >= 4, "several languages, not one"
    kinds = Counter(q.extra.get("kind") for q in questions)
    assert set(kinds) == {"faq", "docs"}
    assert 20 <= kinds["faq"] <= 35 and kinds["docs"] >= 35, kinds
    assert all(q.relevant for q in questions), "every dev-set question is labelled"
    texts = [q.question.casefold() for q in questions]
    assert len(set(texts)) == len(texts), "no duplicate questions"


def test_questions_are_paraphrases_not_headings(questions: list[Question]) -> None:
    """Users do not type the heading: no question may equal one of its own labels."""
    for q in questions:
        for item in q.relevant:
            assert q.question.casefold().strip(" ?") != item.casefold().strip(" ?"), q.question


def _heading_lines(path: Path) -> list[str]:
    """Text of the ATX heading lines of a Markdown file, code fences excluded."""
    out: list[str] = []
    fence: str | None = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        fm = _FENCE.match(line)
        if fence is not None:
            if (
                fm
                and fm.group(1)[0] == fence[0]
                and len(fm.group(1)) >= len(fence)
                and not fm.group(2).strip()
            ):
                fence = None
            continue
        if fm and not (fm.group(1)[0] == "`" and "`" in fm.group(2)):
            fence = fm.group(1)
            continue
        m = _ATX.match(line)
        if m:
            out.append(" ".join(m.group(1).split()))
    return out


@pytest.fixture(scope="module")
def corpus_index() -> tuple[list[str], dict[str, list[str]]]:
    files = sorted(p.relative_to(EN).as_posix() for p in EN.rglob("*.md"))
    headings = {f: _heading_lines(EN / f) for f in files}
    return files, headings


def _resolves(item: str, files: list[str], headings: dict[str, list[str]]) -> bool:
    if item.endswith(".md"):
        return any(f == item or f.endswith("/" + item) for f in files)
    parts = [" ".join(p.split()).casefold() for p in item.split(" > ")]
    for lines in headings.values():
        folded = [h.casefold() for h in lines]
        if len(parts) == 1:
            if any(parts[0] in h for h in folded):
                return True
            continue
        # a path label "A > B": headings containing A, then B, in that order in one file
        pos = 0
        for part in parts:
            pos = next((i + 1 for i in range(pos, len(folded)) if part in folded[i]), -1)
            if pos < 0:
                break
        if pos > 0:
            return True
    return False


@needs_corpus
def test_every_label_names_a_real_file_or_heading(
    questions: list[Question], corpus_index: tuple[list[str], dict[str, list[str]]]
) -> None:
    files, headings = corpus_index
    assert len(files) >= 260
    bad = [
        (q.question, item)
        for q in questions
        for item in q.relevant
        if not _resolves(item, files, headings)
    ]
    assert not bad, f"labels that match no file and no heading line: {bad}"


@needs_corpus
def test_every_label_matches_a_chunk(questions: list[Question]) -> None:
    """What evaluation compares against: the sources and heading paths of real chunks."""
    from ossrag.evaluation.metrics import matches
    from ossrag.ingest.chunking import chunk_document
    from ossrag.ingest.loaders import discover, parse
    from ossrag.types import Skipped

    chunks: list[dict[str, str]] = []
    for item in discover(str(CORPUS), include=["en/**/*.md"]):
        if isinstance(item, Skipped):
            continue
        doc = parse(item)
        chunks.extend({"source": doc.source, "heading": c.heading} for c in chunk_document(doc))
    assert len(chunks) > 1000
    counts = {
        (q.question, item): sum(1 for c in chunks if matches(c, item))
        for q in questions
        for item in q.relevant
    }
    unmatched = [key for key, n in counts.items() if n == 0]
    assert not unmatched, f"labels no chunk matches: {unmatched}"
    # Labels are meant to be precise: a heading label matching half the corpus is a typo.
    loose = [key for key, n in counts.items() if not key[1].endswith(".md") and n > 30]
    assert not loose, f"heading labels that match too many chunks: {loose}"


# ------------------------------------------------------------------ the loader


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "q.jsonl"
    p.write_text(text, encoding="utf-8")
    return p


def test_loader_reads_fields_comments_and_blank_lines(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# a comment line\n"
        "\n"
        '{"question": " Where is data stored? ", "relevant": ["faq/product_faq.md"], "kind": "faq"}\n'
        "   \n"
        '{"question": "Wo liegen die Logs?", "relevant": "faq/operational_faq.md", "lang": "de",'
        ' "reference": "stdout", "answerable": false}\n',
    )
    qs = load_questions(p)
    assert len(qs) == 2
    assert qs[0] == Question("Where is data stored?", ["faq/product_faq.md"], extra={"kind": "faq"})
    assert qs[1].relevant == ["faq/operational_faq.md"]  # a single string is accepted
    assert (qs[1].lang, qs[1].reference, qs[1].answerable) == ("de", "stdout", False)
    assert qs[1].to_dict()["answerable"] is False
    assert load_questions(str(p)) == qs  # str paths too


def test_loader_invalid_json_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, '{"question": "ok", "relevant": []}\n# fine\n{"question": "broken",\n')
    with pytest.raises(ConfigError) as err:
        load_questions(p)
    msg = str(err.value)
    assert f"{p}:3" in msg and "invalid JSON" in msg
    assert "one complete JSON object" in msg  # the hint says how to fix it


def test_loader_missing_question_field(tmp_path: Path) -> None:
    p = write(tmp_path, '{"question": "fine"}\n{"q": "typo", "relevant": ["a.md"]}\n')
    with pytest.raises(ConfigError, match=rf'{re.escape(str(p))}:2: missing "question" field'):
        load_questions(p)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["a", "list"]', "expected a JSON object, got list"),
        ('{"question": ""}', '"question" must be a non-empty string'),
        ('{"question": 42}', '"question" must be a non-empty string'),
        ('{"question": "q", "relevant": [1, 2]}', '"relevant" must be a list of non-empty strings'),
        (
            '{"question": "q", "relevant": ["ok", " "]}',
            '"relevant" must be a list of non-empty strings',
        ),
        ('{"question": "q", "answerable": "yes"}', '"answerable" must be true or false'),
        ('{"question": "q", "reference": ["x"]}', '"reference" must be a string'),
        ('{"question": "q", "lang": ""}', '"lang" must be a language code'),
    ],
)
def test_loader_field_errors(tmp_path: Path, line: str, message: str) -> None:
    p = write(tmp_path, line + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"{p}:1: {message}")):
        load_questions(p)


def test_loader_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dataset not found"):
        load_questions(tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="is a directory"):
        load_questions(tmp_path)
    with pytest.raises(ConfigError, match="has no questions"):
        load_questions(write(tmp_path, "# only a comment\n\n"))
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"question": "Größe"}\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_questions(bad)


def test_parse_question_without_a_file() -> None:
    q = parse_question({"question": "q", "relevant": ["a.md"]})
    assert q.relevant == ["a.md"] and q.lang == "en" and q.answerable
    with pytest.raises(ConfigError, match=r'^question: missing "question"'):
        parse_question({})
