"""Retrieval metrics on hand-computed examples, and ``evaluate_retrieval`` end to end.

The expected numbers are worked out by hand in the comments; the log terms
used are 1/log2(2) = 1, 1/log2(3) = 0.6309298, 1/log2(4) = 0.5,
1/log2(5) = 0.4306766.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ossrag.evaluation.datasets import Question
from ossrag.evaluation.metrics import (
    first_relevant_rank,
    hit_at,
    is_relevant,
    matched_items,
    matches,
    ndcg_at,
    recall_at,
    reciprocal_rank,
)
from ossrag.evaluation.retrieval_eval import (
    ModeResult,
    cutoffs_for,
    evaluate_retrieval,
    format_misses,
    format_table,
    to_json,
)
from ossrag.types import Hit


def hit(source: str, heading: str = "", score: float = 0.5) -> Hit:
    return Hit(id=f"{source}#{heading}", score=score, text="...", source=source, heading=heading)


# ------------------------------------------------------------------ the worked example

# Q1: one relevant page, found at rank 2 and again at rank 3 (a duplicate).
Q1_REL = ["faq/product_faq.md"]
Q1_HITS = [
    hit("en/about/overview.md"),
    hit("en/faq/product_faq.md", "Product FAQ > Where does Milvus store data?"),
    hit("en/faq/product_faq.md", "Product FAQ > Why is there no vector data in etcd?"),
    hit("en/reference/index.md"),
]
# Q2: two relevant items (a heading and a page), found at ranks 1 and 4.
Q2_REL = ["Where does Milvus store data?", "reference/architecture/four_layers.md"]
Q2_HITS = [
    hit("en/faq/product_faq.md", "Product FAQ > Where does Milvus store data?"),
    hit("en/about/overview.md"),
    hit("en/adminGuide/deploy_s3.md"),
    hit("en/reference/architecture/four_layers.md", "Storage/Computing Disaggregation > Storage"),
]
# Q3: nothing relevant is returned ("mtls.md" must not count as ending in "tls.md").
Q3_REL = ["tls.md"]
Q3_HITS = [hit("en/adminGuide/mtls.md"), hit("en/adminGuide/rbac.md")]


def test_worked_example_per_question() -> None:
    # Q1: R=1. Top 1 = overview.md -> recall@1 = 0/1; the item is at rank 2 -> recall@3 = recall@10 = 1.
    assert recall_at(Q1_HITS, Q1_REL, 1) == 0.0
    assert recall_at(Q1_HITS, Q1_REL, 3) == 1.0
    assert recall_at(Q1_HITS, Q1_REL, 10) == 1.0
    # first relevant at rank 2 -> RR = 1/2
    assert reciprocal_rank(Q1_HITS, Q1_REL) == 0.5
    # gains: rank 2 -> 1 (credits the page); rank 3 is the same page again -> 0.
    # DCG = 1/log2(3) = 0.6309298; IDCG (R=1) = 1/log2(2) = 1 -> nDCG = 0.6309298
    assert ndcg_at(Q1_HITS, Q1_REL, 10) == pytest.approx(0.6309298, abs=1e-6)

    # Q2: R=2. Rank 1 matches the heading, rank 4 the page.
    # recall@1 = 1/2, recall@3 = 1/2, recall@10 = 2/2
    assert recall_at(Q2_HITS, Q2_REL, 1) == 0.5
    assert recall_at(Q2_HITS, Q2_REL, 3) == 0.5
    assert recall_at(Q2_HITS, Q2_REL, 10) == 1.0
    assert reciprocal_rank(Q2_HITS, Q2_REL) == 1.0
    # DCG = 1/log2(2) + 1/log2(5) = 1 + 0.4306766 = 1.4306766
    # IDCG (R=2) = 1/log2(2) + 1/log2(3) = 1.6309298 -> nDCG = 1.4306766 / 1.6309298 = 0.8772153
    assert ndcg_at(Q2_HITS, Q2_REL, 10) == pytest.approx(0.8772153, abs=1e-6)
    # with k=3 the page at rank 4 is cut off: DCG = 1 -> nDCG@3 = 1 / 1.6309298 = 0.6131472
    assert ndcg_at(Q2_HITS, Q2_REL, 3) == pytest.approx(0.6131472, abs=1e-6)

    # Q3: nothing found.
    for k in (1, 3, 10):
        assert recall_at(Q3_HITS, Q3_REL, k) == 0.0
    assert reciprocal_rank(Q3_HITS, Q3_REL) == 0.0
    assert ndcg_at(Q3_HITS, Q3_REL) == 0.0


def test_worked_example_means() -> None:
    cases = [(Q1_HITS, Q1_REL), (Q2_HITS, Q2_REL), (Q3_HITS, Q3_REL)]

    def mean(f, *args) -> float:  # type: ignore[no-untyped-def]
        return sum(f(h, r, *args) for h, r in cases) / len(cases)

    assert mean(recall_at, 1) == pytest.approx(1 / 6)  # (0 + 1/2 + 0) / 3 = 0.1667
    assert mean(recall_at, 3) == pytest.approx(0.5)  # (1 + 1/2 + 0) / 3
    assert mean(recall_at, 10) == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3 = 0.6667
    assert mean(reciprocal_rank, 10) == pytest.approx(0.5)  # MRR = (1/2 + 1 + 0) / 3
    # nDCG = (0.6309298 + 0.8772153 + 0) / 3 = 0.5027150
    assert mean(ndcg_at, 10) == pytest.approx(0.5027150, abs=1e-6)
    assert mean(hit_at, 1) == pytest.approx(1 / 3)  # only Q2 has a relevant top-1 hit
    assert mean(hit_at, 10) == pytest.approx(2 / 3)


# ------------------------------------------------------------------ matching rules


def test_source_matches_at_path_boundary_only() -> None:
    h = hit("en/adminGuide/tls.md")
    assert matches(h, "tls.md")
    assert matches(h, "adminGuide/tls.md")
    assert matches(h, "en/adminGuide/tls.md")
    assert matches(h, "/adminGuide/tls.md")
    assert not matches(hit("en/adminGuide/mtls.md"), "tls.md")
    assert not matches(hit("en/reference/disk_index.md"), "index.md")
    assert matches(hit("en/reference/index.md"), "index.md")
    # paths are case-sensitive
    assert not matches(h, "TLS.md")


def test_heading_contains_ignoring_case_and_whitespace() -> None:
    h = hit("en/faq/product_faq.md", "Product FAQ > Where does Milvus store data?")
    assert matches(h, "where does milvus STORE data?")
    assert matches(h, "  Where does   Milvus store data? ")  # label copied with extra spaces
    assert matches(h, "Product FAQ > Where does")  # a path label
    assert not matches(h, "Where does Milvus store metadata?")
    assert not matches(hit("x.md", ""), "Where does Milvus store data?")


def test_blank_items_never_match_and_dicts_work() -> None:
    h = {"source": "en/faq/product_faq.md", "heading": "Product FAQ"}
    assert is_relevant(h, ["faq/product_faq.md"])
    assert is_relevant(h, ["nothing.md", "product faq"])
    assert not is_relevant(h, ["", "   "])
    assert not is_relevant({}, ["faq/product_faq.md"])
    assert recall_at([h], ["", " "], 10) == 0.0
    assert ndcg_at([h], [], 10) == 0.0


# ------------------------------------------------------------------ edge cases


def test_no_hits_and_k_larger_than_hits() -> None:
    rel = ["a.md"]
    assert recall_at([], rel, 10) == 0.0
    assert reciprocal_rank([], rel) == 0.0
    assert ndcg_at([], rel) == 0.0
    assert first_relevant_rank([], rel) is None
    # two hits, k = 50: simply all of them are looked at
    hits = [hit("b.md"), hit("docs/a.md")]
    assert recall_at(hits, rel, 50) == 1.0
    assert reciprocal_rank(hits, rel, 50) == 0.5
    # DCG = 1/log2(3); IDCG = min(R=1, k=50) = 1 ideal hit -> 0.6309298
    assert ndcg_at(hits, rel, 50) == pytest.approx(0.6309298, abs=1e-6)


def test_duplicate_relevant_items_count_once() -> None:
    hits = [hit("docs/a.md")]
    # R is 1, not 2: recall 1/1 and a perfect nDCG
    assert recall_at(hits, ["a.md", "a.md", " a.md "], 3) == 1.0
    assert ndcg_at(hits, ["a.md", "a.md"], 3) == 1.0
    assert matched_items(hits, ["a.md", "a.md"], 3) == ["a.md"]


def test_duplicate_hits_earn_no_extra_gain() -> None:
    rel = ["a.md", "b.md"]
    hits = [hit("x/a.md", "A > one"), hit("x/a.md", "A > two"), hit("x/b.md")]
    # gains 1, 0, 1: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 0.6309298 = 1.6309298 -> 0.9197208
    assert ndcg_at(hits, rel, 10) == pytest.approx(0.9197208, abs=1e-6)
    assert recall_at(hits, rel, 2) == 0.5  # only a.md within the top 2


def test_one_hit_matching_two_items() -> None:
    rel = ["Storage", "Meta storage"]
    both = hit("x.md", "Storage > Meta storage")
    # recall counts items: the one hit matches both -> recall@1 = 2/2
    assert recall_at([both], rel, 1) == 1.0
    # nDCG credits one item per hit: DCG = 1, IDCG = 1 + 0.6309298 -> 0.6131472
    assert ndcg_at([both], rel, 10) == pytest.approx(0.6131472, abs=1e-6)
    # a second passage for the other item completes the ideal ranking
    assert ndcg_at([both, hit("y.md", "Meta storage")], rel, 10) == pytest.approx(1.0)


def test_k_must_be_positive() -> None:
    for f in (recall_at, reciprocal_rank, ndcg_at, hit_at):
        with pytest.raises(ValueError):
            f([hit("a.md")], ["a.md"], 0)


# ------------------------------------------------------------------ report formatting


def test_cutoffs_and_table_and_json() -> None:
    assert cutoffs_for(10) == (1, 3, 10)
    assert cutoffs_for(5) == (1, 3, 5)
    assert cutoffs_for(20) == (1, 3, 10, 20)
    assert cutoffs_for(1) == (1,)
    dense = ModeResult(
        "dense",
        recall={1: 0.25, 3: 0.5, 10: 0.75},
        mrr=0.4,
        ndcg=0.45,
        p50_ms=12.34,
        k=10,
        questions=4,
        hit_rate=0.75,
        misses=[
            {
                "question": "q?",
                "relevant": ["a.md"],
                "lang": "en",
                "top": [{"source": "b.md", "heading": "B", "score": 0.1}],
            }
        ],
    )
    bm25 = ModeResult("bm25", k=10, skipped="Milvus 2.4.9 has no BM25")
    table = format_table([dense, bm25])
    lines = table.splitlines()
    assert lines[0].split() == ["mode", "R@1", "R@3", "R@10", "MRR@10", "nDCG@10", "p50", "ms"]
    assert lines[1].split() == ["dense", "0.250", "0.500", "0.750", "0.400", "0.450", "12.3"]
    assert lines[2].startswith("bm25") and "skipped: Milvus 2.4.9 has no BM25" in lines[2]
    # columns are aligned: every number starts where its header does
    assert lines[1].index("0.500") == lines[0].index("R@3")
    data = to_json([dense, bm25])
    assert data["k"] == 10 and data["questions"] == 4
    assert data["modes"]["dense"]["recall"] == {"1": 0.25, "3": 0.5, "10": 0.75}
    assert data["modes"]["bm25"] == {"mode": "bm25", "skipped": "Milvus 2.4.9 has no BM25"}
    text = format_misses(dense)
    assert "1 of 4 questions" in text and "q?" in text and "b.md > B" in text


# ------------------------------------------------------------------ end to end on Milvus Lite

DOCS = {
    "zebra.md": "# Zebras\n\n## Stripes\n\nZebras have black and white stripes that confuse "
    "biting flies and help them keep cool on the savanna.\n",
    "volcano.md": "# Volcanoes\n\n## Eruptions\n\nA volcano erupts when magma pressure in the chamber "
    "forces molten rock up through the crust.\n",
    "saxophone.md": "# Saxophone\n\n## Reeds\n\nThe saxophone is a woodwind instrument; its sound "
    "comes from a single cane reed vibrating against the mouthpiece.\n",
    "bread.md": "# Sourdough\n\n## Starter\n\nA sourdough starter is flour and water fermented by "
    "wild yeast and lactobacilli; feed it daily.\n",
}
QUESTIONS = [
    Question("Why do zebras have stripes?", ["zebra.md"]),
    Question("What makes a volcano erupt?", ["Volcanoes > Eruptions"]),
    Question("How does a saxophone reed make sound?", ["saxophone.md", "Reeds"]),
    Question("How do I feed my sourdough starter?", ["Starter"]),
    # labelled with a page that does not exist: every mode must miss it
    Question("How fast do zebras run?", ["cheetah.md"]),
    Question("A question without labels is not scored", []),
]


@pytest.fixture(scope="module")
def tiny_kb(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ossrag import KnowledgeBase

    root: Path = tmp_path_factory.mktemp("eval")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    kb = KnowledgeBase(uri=str(root / "t.db"), name="t")
    kb.ingest(str(docs))
    yield kb
    kb.close()


def test_evaluate_retrieval_end_to_end(tiny_kb) -> None:  # type: ignore[no-untyped-def]
    results = evaluate_retrieval(tiny_kb, QUESTIONS, modes=("dense", "bm25", "hybrid"), k=3)
    assert [r.mode for r in results] == ["dense", "bm25", "hybrid"]
    bm25_ok = tiny_kb.store.capabilities.bm25
    for r in results:
        if r.mode != "dense" and not bm25_ok:
            assert r.skipped, "a mode the target cannot serve must be reported as skipped"
            continue
        assert not r.skipped, r.skipped
        assert r.questions == 5  # the unlabelled question is left out
        assert set(r.recall) == {1, 3}
        assert 0.0 <= r.recall[1] <= r.recall[3] <= 1.0
        assert 0.0 <= r.ndcg <= 1.0 and 0.0 <= r.mrr <= 1.0
        assert r.p50_ms > 0.0
        assert len(r.per_question) == 5
        # misses and hit rate agree, and the impossible question is always a miss
        assert len(r.misses) == round(r.questions * (1 - r.hit_rate))
        missed = {m["question"] for m in r.misses}
        assert "How fast do zebras run?" in missed
        miss = next(m for m in r.misses if m["question"] == "How fast do zebras run?")
        assert miss["relevant"] == ["cheetah.md"] and miss["top"], (
            "a miss shows what came back instead"
        )
        # the four answerable questions each share distinctive words with exactly one page
        assert missed == {"How fast do zebras run?"}, f"{r.mode} missed {missed}"
        assert r.mrr >= 0.8 * 4 / 5  # 4 of 5 questions answerable, nearly all at rank 1
    table = format_table(results)
    assert table.splitlines()[0].split()[:4] == ["mode", "R@1", "R@3", "MRR@3"]


def test_evaluate_retrieval_errors(tiny_kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ossrag import KnowledgeBase
    from ossrag.errors import ConfigError, StoreError

    with pytest.raises(ConfigError, match="unknown search mode"):
        evaluate_retrieval(tiny_kb, QUESTIONS, modes=("dense", "sparse"))
    with pytest.raises(ConfigError, match="k must be at least 1"):
        evaluate_retrieval(tiny_kb, QUESTIONS, k=0)
    with pytest.raises(ConfigError, match="relevant"):
        evaluate_retrieval(tiny_kb, [Question("no labels")])
    empty = KnowledgeBase(uri=str(tmp_path / "empty.db"), name="nothing")
    try:
        with pytest.raises(StoreError, match="ingest"):
            evaluate_retrieval(empty, QUESTIONS, modes=("dense",))
    finally:
        empty.close()


def test_run_cli_prints_table_misses_and_json(tiny_kb, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse
    import json

    from ossrag.cli.evaluate import run as run_cli
    from ossrag.config import Settings

    data = tmp_path / "q.jsonl"
    data.write_text(
        "# two labelled questions and one without labels\n"
        '{"question": "Why do zebras have stripes?", "relevant": ["zebra.md"]}\n'
        '{"question": "How fast do zebras run?", "relevant": ["cheetah.md"]}\n'
        '{"question": "Not scored"}\n',
        encoding="utf-8",
    )
    settings = Settings.load({"uri": tiny_kb.settings.uri, "kb": "t"}, env={})
    args = argparse.Namespace(dataset=str(data), modes="dense", top_k=None, json=False)
    assert run_cli(args, settings) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"t: 2 questions from {data}, top 10"
    assert lines[2].split()[:4] == ["mode", "R@1", "R@3", "R@10"]
    assert lines[3].split()[0] == "dense"
    assert "dense: 1 of 2 questions had no relevant passage in the top 10" in out
    assert "How fast do zebras run?" in out and "wanted: cheetah.md" in out
    assert "1 question(s) without" in err

    args = argparse.Namespace(dataset=str(data), modes="dense,hybrid", top_k=3, json=True)
    assert run_cli(args, settings) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["k"] == 3 and result["kb"] == "t" and result["questions"] == 2
    assert list(result["modes"]) == ["dense", "hybrid"]
    dense = result["modes"]["dense"]
    assert set(dense["recall"]) == {"1", "3"}
    assert [m["question"] for m in dense["misses"]] == ["How fast do zebras run?"]


def test_eval_cli_takes_the_retrieval_flags(tiny_kb, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`eval retrieval` measures tuned retrieval too: hybrid at dense weight 1 ranks like dense."""
    import json

    from ossrag.cli import main as cli_main

    data = tmp_path / "q.jsonl"
    data.write_text(
        '{"question": "Why do zebras have stripes?", "relevant": ["zebra.md"]}\n'
        '{"question": "How fast do zebras run?", "relevant": ["cheetah.md"]}\n',
        encoding="utf-8",
    )
    base = ["eval", "retrieval", str(data), "--db", tiny_kb.settings.uri, "--kb", "t", "--json"]
    assert cli_main([*base, "--modes", "dense"]) == 0
    dense = json.loads(capsys.readouterr().out)["modes"]["dense"]
    assert (
        cli_main(
            [
                *base,
                "--modes",
                "hybrid",
                "--dense-weight",
                "1",
                "--mmr",
                "--mmr-lambda",
                "1",
                "--source",
                "*.md",
            ]
        )
        == 0
    )
    tuned = json.loads(capsys.readouterr().out)["modes"]["hybrid"]
    for key in ("recall", "mrr", "ndcg"):
        assert tuned[key] == dense[key], key
    assert cli_main([*base, "--modes", "dense", "--source", "nothing/*"]) == 0
    none = json.loads(capsys.readouterr().out)["modes"]["dense"]
    assert none["mrr"] == 0.0 and len(none["misses"]) == 2
