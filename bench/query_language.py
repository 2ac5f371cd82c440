"""The query-language detector on both dev sets and on held-out questions, against py3langid.

    .venv/bin/python bench/query_language.py

:func:`ossrag.retrieval.language.detect_language` decides whether a question is
translated (``--translate auto``).  Its word lists were written from the dev
sets' questions, so those 177 are a training-set score; the 36 questions of
bench/data/query_language_heldout.jsonl were written afterwards.  ``""`` ("cannot
tell": searched as asked) is right for a bare keyword query and counted apart.
py3langid (a maintained n-gram model, ``pip install py3langid``) is the comparison,
when installed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ossrag.evaluation.datasets import load_questions  # noqa: E402
from ossrag.retrieval.language import detect_language  # noqa: E402

SETS = {
    "Milvus dev set": ROOT / "bench" / "data" / "milvus_docs_questions.jsonl",
    "Sphinx dev set": ROOT / "bench" / "data" / "sphinx_docs_questions.jsonl",
}
HELDOUT = ROOT / "bench" / "data" / "query_language_heldout.jsonl"


def heldout() -> list[tuple[str, str]]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines if x.strip() and not x.startswith("#")]
    return [(r["question"], r["lang"]) for r in rows]


def main() -> int:
    other: Callable[[str], str] | None = None
    try:
        import py3langid

        def other(text: str) -> str:
            return str(py3langid.classify(text)[0])
    except ImportError:
        pass
    data = {
        name: [(q.question, q.lang) for q in load_questions(path)] for name, path in SETS.items()
    }
    data["held out"] = heldout()
    print(
        '| questions | n | non-en | ossrag right | ossrag "" | ossrag wrong | py3langid right '
        "| py3langid wrong |\n|---|---|---|---|---|---|---|---|"
    )
    for name, rows in data.items():
        ours = Counter(
            "right"
            if detect_language(q) == lang
            else "blank"
            if detect_language(q) == ""
            else "wrong"
            for q, lang in rows
        )
        theirs = Counter((other(q) == lang) for q, lang in rows) if other is not None else Counter()
        print(
            f"| {name} | {len(rows)} | {sum(lang != 'en' for _, lang in rows)} "
            f"| {ours['right']} | {ours['blank']} | {ours['wrong']} "
            f"| {theirs[True] if other is not None else '-'} "
            f"| {theirs[False] if other is not None else '-'} |"
        )
        for q, lang in rows:
            mine, py = detect_language(q), other(q) if other is not None else ""
            if mine != lang or (other is not None and py != lang):
                print(f"    {lang}: ossrag {mine!r}, py3langid {py!r}: {q}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
