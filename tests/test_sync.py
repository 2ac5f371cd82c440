"""Incremental sync against real Milvus Lite with the real default embedder.

Counts are checked in Milvus itself (store.count / store.source_index), not
only in the report.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from _corpus import MILVUS_DOCS, needs_milvus_docs
from ossrag import KnowledgeBase
from ossrag.errors import SourceError
from ossrag.types import content_hash

FAQ = MILVUS_DOCS / "en" / "faq"

A = """---
title: Alpha
---

# Alpha

## Storage

Alpha keeps its data in object storage such as MinIO or S3.

## Backups

Backups run every night at two o'clock.
"""

B = "# Beta\n\nBeta is a plain page about the weather in Lisbon.\n"
C = "Gamma is a text file about cooking pasta al dente.\n"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text(A)
    (root / "sub" / "b.md").write_text(B)
    (root / "c.txt").write_text(C)
    return root


@pytest.fixture()
def kb(tmp_path: Path):
    with KnowledgeBase(uri=str(tmp_path / "kb.db"), name="t") as kb:
        yield kb


def _sources(kb: KnowledgeBase) -> dict[str, int]:
    return {src: len(ids) for (_, src), (_, ids) in kb.store.source_index(kb.name).items()}


def test_first_ingest_then_unchanged(kb: KnowledgeBase, corpus: Path) -> None:
    r1 = kb.ingest(str(corpus))
    assert (r1.added, r1.updated, r1.unchanged, r1.removed) == (3, 0, 0, 0)
    assert r1.chunks_written == kb.store.count(kb.name) > 0
    assert set(_sources(kb)) == {"a.md", "sub/b.md", "c.txt"}

    r2 = kb.ingest(str(corpus))
    assert (r2.added, r2.updated, r2.unchanged, r2.removed) == (0, 0, 3, 0)
    assert r2.chunks_written == 0 and r2.chunks_deleted == 0
    assert kb.store.count(kb.name) == r1.chunks_written


def test_changed_file_is_replaced(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest(str(corpus))
    before = kb.store.source_index(kb.name)
    (corpus / "a.md").write_text(
        A.replace("two o'clock", "three o'clock") + "\n## Restore\n\nRestore with the CLI.\n"
    )
    r = kb.ingest(str(corpus))
    assert (r.added, r.updated, r.unchanged) == (0, 1, 2)
    after = kb.store.source_index(kb.name)
    key = next(k for k in after if k[1] == "a.md")
    assert after[key][0] != before[key][0]  # new source hash
    # The unchanged first section keeps its id; the edited one is replaced; one is new.
    assert len(after[key][1]) == 3
    assert len(set(after[key][1]) & set(before[key][1])) == 1
    hits = kb.search("when do backups run?", k=1, mode="dense")
    assert "three o'clock" in hits[0].text
    assert kb.store.count(kb.name) == sum(len(v[1]) for v in after.values())


def test_deleted_file_is_removed(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest(str(corpus))
    (corpus / "sub" / "b.md").unlink()
    r = kb.ingest(str(corpus))
    assert r.removed == 1 and r.unchanged == 2
    assert "sub/b.md" not in _sources(kb)
    # Out of scope of the include filter: pruning must not touch c.txt.
    r2 = kb.ingest(str(corpus), include=["**/*.md"])
    assert r2.removed == 0
    assert "c.txt" in _sources(kb)


def test_broken_file_keeps_what_was_indexed(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest(str(corpus))
    count = kb.store.count(kb.name)
    (corpus / "a.md").write_bytes(bytes(range(256)) * 8)  # binary junk under a .md name
    (corpus / "new.md").write_bytes(b"caf\xe9 au lait, latin-1 text\n")
    r = kb.ingest(str(corpus))
    reasons = {s.source: s.reason for s in r.skipped}
    assert set(reasons) == {"a.md"}
    assert "binary" in reasons["a.md"].lower()
    # Latin-1 is decoded by the documented fallback, and the report says so.
    assert [(n.source, n.note.split(":")[0]) for n in r.notes] == [("new.md", "not UTF-8")]
    assert r.removed == 0 and r.added == 1
    assert kb.store.count(kb.name) == count + 1
    assert "a.md" in _sources(kb)


def test_missing_source_aborts_before_writing(kb: KnowledgeBase, corpus: Path) -> None:
    with pytest.raises(SourceError, match="no-such-dir"):
        kb.ingest(str(corpus), str(corpus / "no-such-dir"))
    assert not kb.store.exists(kb.name) or kb.store.count(kb.name) == 0


def test_empty_file_is_skipped(kb: KnowledgeBase, corpus: Path) -> None:
    (corpus / "empty.md").write_text("   \n")
    r = kb.ingest(str(corpus))
    assert [s.source for s in r.skipped] == ["empty.md"]
    assert r.added == 3


def test_metadata_and_filters(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest(str(corpus), metadata={"team": "infra"})
    hits = kb.search(
        "weather", k=5, mode="dense", filter='metadata["team"] == "infra" and source like "sub/%"'
    )
    assert [h.source for h in hits] == ["sub/b.md"]
    assert hits[0].metadata["team"] == "infra"


@needs_milvus_docs
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_tutorial_question_finds_storage_faq(faq_kb: KnowledgeBase, mode: str) -> None:
    hits = faq_kb.search("How is data stored in milvus?", k=3, mode=mode)
    assert hits, "no hits"
    assert "Where does Milvus store data?" in hits[0].heading
    assert hits[0].source == "product_faq.md"


@pytest.fixture(scope="module")
def faq_kb(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("faq") / "faq.db"
    with KnowledgeBase(uri=str(db), name="faq") as kb:
        kb.ingest(str(FAQ))
        yield kb


# -- the streaming pipeline: progress, duplicates, reuse, older layouts ------------------------
def test_progress_reports_files_chunks_rate_and_done(kb: KnowledgeBase, corpus: Path) -> None:
    seen: list = []
    report = kb.ingest(str(corpus), progress=seen.append)
    assert seen[0].phase == "scanning" and seen[-1].phase == "done"
    last = seen[-1]
    assert (last.files_total, last.files_done) == (3, 3)
    assert last.chunks_done == last.chunks_total == report.chunks_written
    assert last.fraction == 1.0 and last.eta_s is None
    assert all(a.chunks_done <= b.chunks_done for a, b in itertools.pairwise(seen))


def test_identical_texts_are_embedded_once(kb: KnowledgeBase, tmp_path: Path) -> None:
    root = tmp_path / "dups"
    root.mkdir()
    for i in range(4):  # four copies of one page, and one page of its own
        (root / f"copy{i}.md").write_text(B)
    (root / "other.md").write_text(A)
    report = kb.ingest(str(root))
    assert report.chunks_written == kb.store.count(kb.name) == 4 * 1 + 2
    assert report.chunks_embedded == 1 + 2 and report.chunks_reused == 3
    vecs = kb.store.get_vectors(
        kb.name,
        [h.id for h in kb.store.source_chunks(kb.name, "copy0.md")]
        + [h.id for h in kb.store.source_chunks(kb.name, "copy3.md")],
    )
    a, b = vecs.values()
    np.testing.assert_allclose(a, b)


def test_edited_file_embeds_only_its_changed_chunks(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest(str(corpus))
    before = {h.chunk_index: h for h in kb.store.source_chunks(kb.name, "a.md")}
    (corpus / "a.md").write_text(A.replace("two o'clock", "three o'clock"))
    r = kb.ingest(str(corpus))
    assert r.updated == 1 and r.chunks_written == 2 and r.chunks_embedded == 1
    after = {h.chunk_index: h for h in kb.store.source_chunks(kb.name, "a.md")}
    assert after[0].id == before[0].id and after[1].id != before[1].id
    # The unchanged chunk kept its vector and now carries the new version's hash.
    rows = kb.store.source_rows(kb.name)
    key = next(k for k in rows if k[1] == "a.md")
    assert rows[key].complete(content_hash((corpus / "a.md").read_bytes())) is True


def test_renamed_heading_is_embedded_again(kb: KnowledgeBase, corpus: Path) -> None:
    """Same text under a new heading: same row id, but the embedded text changed."""
    kb.ingest(str(corpus))
    (corpus / "a.md").write_text(A.replace("## Storage", "## Where data lives"))
    r = kb.ingest(str(corpus))
    assert r.chunks_embedded == 1 and r.chunks_written == 2


def test_knowledge_base_of_schema_2_is_synced_by_ids(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ossrag.stores.milvus._schema as store_mod

    with monkeypatch.context() as m:
        m.setattr(store_mod, "SCHEMA_VERSION", 2)
        with KnowledgeBase(uri=str(tmp_path / "old.db"), name="old") as old:
            first = old.ingest(str(corpus))
    with KnowledgeBase(uri=str(tmp_path / "old.db"), name="old") as old:
        assert old.info().schema == 2
        again = old.ingest(str(corpus))
        assert (again.unchanged, again.chunks_written) == (3, 0)
        # A missing row (as an interrupted old run would leave) is found and written.
        victim = next(iter(old.store.source_rows("old")[(str(corpus), "a.md")].ids))
        old.store.delete_ids("old", [victim])
        fixed = old.ingest(str(corpus))
        assert (fixed.resumed, fixed.chunks_written, fixed.chunks_embedded) == (1, 1, 1)
        assert old.store.count("old") == first.chunks_written
