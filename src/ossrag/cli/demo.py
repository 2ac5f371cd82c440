"""``ossrag demo``: the whole pipeline offline, on ossrag's own documentation.

It ingests the bundled ``docs/`` into a knowledge base in a temporary Milvus
Lite file (your ``./ossrag.db`` is not touched), runs a few searches — one of
them in German, to show the multilingual default embedder — and answers one
question with the bundled SmolLM2-135M through in-process llama.cpp.
"""

from __future__ import annotations

import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError, MissingDependencyError, OssragError
from ..kb import KnowledgeBase
from .progress import IngestBar

__all__ = [
    "DEMO_QUESTION",
    "DEMO_SEARCHES",
    "NEXT_STEPS",
    "TINY_MODEL_NOTE",
    "demo_docs",
    "run",
]

DEMO_SEARCHES = [
    "How do I see the model's reasoning?",
    "Which reasoning effort levels can I choose?",
    "Wie installiere ich ossrag?",  # German: the default embedder is multilingual
]
# Measured with bench/tiny_models.py-style runs: of the questions tried, the bundled SmolLM2
# answers this one readably and cites the right passage; most others it garbles.
DEMO_QUESTION = "How do I point ossrag at a Milvus server?"
TINY_MODEL_NOTE = (
    "note: the bundled SmolLM2-135M only proves that the whole pipeline runs offline; a model "
    "this small misreads passages and invents details, so do not trust its answer. The best "
    "passage is shown below it."
)

NEXT_STEPS = (
    "note: SmolLM2-135M only proves the pipeline works offline; for real answers point ossrag at "
    "gpt-oss: -m openrouter:openai/gpt-oss-120b (OPENROUTER_API_KEY), -m ollama:gpt-oss:20b, "
    "-m vllm:openai/gpt-oss-20b, or -m local:/path/to/gpt-oss-20b.gguf"
)


def demo_docs() -> Path:
    """The bundled docs: ``ossrag/docs`` in an installed package, else the repo's ``docs/``."""
    packaged = Path(str(resources.files("ossrag"))) / "docs"
    if packaged.is_dir() and any(packaged.glob("*.md")):
        return packaged
    repo = Path(__file__).resolve().parents[3] / "docs"
    if repo.is_dir():
        return repo
    raise ConfigError(
        "the bundled docs are missing",
        hint="reinstall ossrag: pip install --force-reinstall ossrag",
    )


def run(settings: Settings, *, model: str | None = None, answer: bool = True) -> int:
    docs = demo_docs()
    with tempfile.TemporaryDirectory(prefix="ossrag-demo-") as tmp:
        db = str(Path(tmp) / "demo.db")
        settings = Settings.load(
            {
                "uri": db,
                "kb": "demo",
                "model": model or settings.model,
                "embedder": settings.embedder,
            }
        )
        print(f"ossrag demo: ingesting {docs} into a temporary knowledge base (Milvus Lite, {db})")
        with KnowledgeBase(settings=settings) as kb:
            t0 = time.perf_counter()
            with IngestBar() as bar:
                report = kb.ingest(
                    str(docs), include=["**/*.md"], progress=bar if bar.mode == "bar" else None
                )
            print(
                f"  {report.summary()} with embedder {kb.embedder.name}; "
                f"search mode {kb.default_mode}"
            )
            t1 = time.perf_counter()
            again = kb.ingest(str(docs), include=["**/*.md"])
            print(
                f"  re-ingest: {again.summary()} — unchanged files are not embedded again "
                f"({time.perf_counter() - t1:.1f}s vs {t1 - t0:.1f}s)"
            )
            for query in DEMO_SEARCHES:
                hits = kb.search(query, k=3)
                print(f"\nsearch: {query}")
                for i, h in enumerate(hits, start=1):
                    print(
                        f"  [{i}] {h.score:.3f}  {h.source}"
                        + (f" — {h.heading}" if h.heading else "")
                    )
            if not answer:
                return 0
            print(f"\nask ({settings.model}): {DEMO_QUESTION}")
            if settings.model == "local:smollm2":
                print(TINY_MODEL_NOTE)
            try:
                run = kb.stream(DEMO_QUESTION, max_tokens=160, effort="low")
                for ev in run:
                    if ev.type == "text":
                        sys.stdout.write(ev.delta)
                        sys.stdout.flush()
                assert run.answer is not None
                ans = run.answer
                print()
                for c in ans.citations:
                    print(f"  [{c.n}] {c.source}" if c.valid else f"  [{c.n}] (no such passage)")
                t = ans.timings
                print(
                    f"  ({ans.usage.completion_tokens} tokens, first token {t.get('first_token_s') or 0:.2f}s, "
                    f"total {t.get('total_s') or 0:.2f}s)"
                )
                if ans.hits:
                    best = ans.hits[0]
                    text = " ".join(best.text.split())
                    print(
                        f"\nbest passage: {best.source}"
                        + (f" — {best.heading}" if best.heading else "")
                    )
                    print(f"  {text[:400]}{'…' if len(text) > 400 else ''}")
            except MissingDependencyError as exc:
                print(f"  skipped answering: {exc}")
            except OssragError as exc:
                print(f"  answering failed: {exc}", file=sys.stderr)
                return 1
            print(f"\n{NEXT_STEPS}")
    return 0
