"""Scoring compared answers: correctness, faithfulness, citation precision, refusals.

    scores = score_answer(question, answer_text, citations, hits, judge=None)
    scores["correctness"], scores["correctness_method"]     # 0.67, 'f1'
    rows = summarize(answer_rows, questions)                # one dict per model x effort

* **Correctness** against the reference: an LLM judge when ``--judge MODEL``
  is given (:mod:`ossrag.evaluation.judge`: prompt :data:`JUDGE_PROMPT`, a
  JSON verdict), else SQuAD-style
  token F1 (lower case, punctuation and articles removed, citation markers
  dropped). On ``answerable: false`` questions the correct answer is a
  refusal, detected with a small multilingual phrase list
  (:data:`REFUSAL_PHRASES`), and correctness is 1 exactly when the model refused.
* **Faithfulness**: with a judge, its estimate of the fraction of the answer's
  claims supported by the cited passages. Without one, a *proxy*: the fraction
  of the answer's sentences that cite a passage that was given (a sentence
  without a citation, or citing a number that was never given, counts as
  unsupported). The proxy checks citation discipline, not truth; it is None
  for the ``tutorial`` template, which does not ask for citations.
* **Citation precision**: of the passages the answer cites, the fraction that
  match the question's ``relevant`` list (:func:`ossrag.evaluation.metrics.is_relevant`:
  the source ends with the item or the heading path contains it); None when
  no list is given or nothing is cited.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..llms.base import LLM
from .judge import JUDGE_PROMPT, build_judge_messages, parse_verdict, run_judge
from .metrics import is_relevant

__all__ = [
    "JUDGE_PROMPT",
    "REFUSAL_PHRASES",
    "build_judge_messages",
    "citation_precision",
    "faithfulness_proxy",
    "is_refusal",
    "normalize_answer",
    "parse_verdict",
    "percentile",
    "run_judge",
    "score_answer",
    "summarize",
    "token_f1",
]

#: Phrases that mark a refusal ("I don't know"), lower case, apostrophes normalised to '.
REFUSAL_PHRASES: tuple[str, ...] = (
    # English
    "i don't know",
    "i do not know",
    "i dont know",
    "don't know",
    "cannot answer",
    "can't answer",
    "unable to answer",
    "not able to answer",
    "cannot be answered",
    "no information",
    "do not contain",
    "does not contain",
    "don't contain",
    "doesn't contain",
    "not mentioned",
    "not provided in the passages",
    "not in the passages",
    "not enough information",
    # German, French, Spanish, Italian, Portuguese, Dutch
    "ich weiß nicht",
    "ich weiss nicht",
    "weiß ich nicht",
    "keine information",
    "keine angaben",
    "je ne sais pas",
    "aucune information",
    "no lo sé",
    "no lo se",
    "no sé",
    "no tengo información",
    "non lo so",
    "nessuna informazione",
    "não sei",
    "nao sei",
    "ik weet het niet",
    # Russian, Polish, Turkish, Chinese, Japanese, Korean
    "я не знаю",
    "не знаю",
    "nie wiem",
    "bilmiyorum",
    "我不知道",
    "不知道",
    "無法回答",
    "无法回答",
    "わかりません",
    "分かりません",
    "知りません",
    "모르겠습니다",
    "모릅니다",
)
# A refusal is said up front; "I don't know X, but Y ..." deep into a long answer is an answer.
_REFUSAL_WINDOW = 160

_CITATION_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_LEADING_CITES = re.compile(r"^\s*((?:\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\]\s*)+)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"«", "»", "“", "”", "‘", "’", "—", "–", "…"}


# -- text helpers ------------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no citations/punctuation/articles, single spaces."""
    text = _CITATION_RE.sub(" ", text.lower())
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between an answer and a reference (0..1)."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    return text.replace("’", "'").replace("‘", "'").replace("`", "'")


def is_refusal(text: str) -> bool:
    """True when the answer declines ("I don't know", "Je ne sais pas", ...) near its start."""
    folded = _fold(text).strip()
    if not folded:
        return False
    head = folded[:_REFUSAL_WINDOW]
    return any(p in head for p in REFUSAL_PHRASES)


def _sentences(text: str) -> list[str]:
    """Split into sentences; citation markers after a full stop stay with their sentence."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text.strip()):
        m = _LEADING_CITES.match(part)
        if m and out:
            out[-1] = out[-1] + " " + m.group(1).strip()
            part = part[m.end() :]
        if part.strip() and any(ch.isalnum() for ch in _CITATION_RE.sub("", part)):
            out.append(part.strip())
        elif part.strip() and out:
            out[-1] += " " + part.strip()
    return out


def faithfulness_proxy(text: str, valid_numbers: Iterable[int]) -> float | None:
    """Fraction of sentences citing at least one passage number that was given; None if no sentence."""
    valid = set(valid_numbers)
    sentences = _sentences(text)
    if not sentences:
        return None
    cited = 0
    for s in sentences:
        numbers = {int(n) for m in _CITATION_RE.finditer(s) for n in re.split(r"[,;]", m.group(1))}
        if numbers & valid:
            cited += 1
    return cited / len(sentences)


def citation_precision(
    citations: Sequence[dict[str, Any]], relevant: Sequence[str]
) -> float | None:
    """Cited passages that match ``relevant`` / passages cited (invalid numbers count as misses)."""
    if not relevant or not citations:
        return None
    # A citation carries its passage's source and heading, which is what matching needs.
    hits = sum(1 for c in citations if c.get("id") and is_relevant(c, relevant))
    return hits / len(citations)


# -- one answer --------------------------------------------------------------------------------
def score_answer(
    question: dict[str, Any],
    answer: str,
    citations: Sequence[dict[str, Any]],
    hits: Sequence[dict[str, Any]],
    *,
    template: str = "cited",
    judge: LLM | None = None,
    judge_lock: AbstractContextManager[Any] | None = None,
) -> dict[str, Any]:
    """Scores of one answer; ``question`` has question, reference, relevant, answerable."""
    reference = str(question.get("reference") or "")
    answerable = question.get("answerable", True) is not False
    refused = is_refusal(answer)
    valid_numbers = [int(c["n"]) for c in citations if c.get("id")]
    s: dict[str, Any] = {
        "refused": refused,
        "refusal_correct": None if answerable else refused,
        "f1": token_f1(answer, reference) if reference and answerable else None,
        "correct": None,
        "correctness": None,
        "correctness_method": None,
        "faithfulness": None,
        "faithfulness_method": None,
        "citation_precision": citation_precision(citations, question.get("relevant") or []),
        "judge": None,
    }
    if not answerable:
        s.update(correct=refused, correctness=float(refused), correctness_method="refusal")
    elif refused:
        # A refusal to an answerable question is wrong whatever a judge would say.
        s.update(correct=False, correctness=0.0, correctness_method="refusal")
    if refused:
        return s  # nothing claimed, nothing to check for faithfulness
    if judge is not None:
        cited = {int(c["n"]) for c in citations if c.get("id")}
        shown = [h for i, h in enumerate(hits, start=1) if i in cited] or list(hits)
        verdict, info = run_judge(
            judge,
            build_judge_messages(str(question.get("question", "")), reference, answer, shown),
            judge_lock,
        )
        s["judge"] = info
        if verdict:
            if answerable:
                s.update(
                    correct=verdict["correct"],
                    correctness=1.0 if verdict["correct"] else 0.0,
                    correctness_method="judge",
                )
                s["judge_score"] = verdict["score"]
            if verdict["faithfulness"] is not None:
                s.update(faithfulness=verdict["faithfulness"], faithfulness_method="judge")
    if answerable and s["correctness"] is None and s["f1"] is not None:
        # No judge (or its reply was unreadable): token F1 is the correctness score.
        s.update(correctness=s["f1"], correct=s["f1"] >= 0.5, correctness_method="f1")
    if s["faithfulness"] is None and template == "cited":
        proxy = faithfulness_proxy(answer, valid_numbers)
        if proxy is not None:
            s.update(faithfulness=proxy, faithfulness_method="citation-proxy")
    return s


# -- aggregation -------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _accuracies(
    group: Sequence[dict[str, Any]],
    questions: dict[int, dict[str, Any]],
) -> tuple[list[float], list[float]]:
    """(correctness per scored answer, refusal correctness per unanswerable question); errors are 0."""
    acc: list[float] = []
    refusals: list[float] = []
    for r in group:
        q = questions.get(r["qindex"], {})
        sc = r.get("scores") or {}
        answerable = q.get("answerable", True) is not False
        if r.get("error"):
            if not answerable or q.get("reference") or sc.get("correctness") is not None:
                acc.append(0.0)
            if not answerable:
                refusals.append(0.0)
            continue
        if sc.get("correctness") is not None:
            acc.append(float(sc["correctness"]))
        if sc.get("refusal_correct") is not None:
            refusals.append(float(sc["refusal_correct"]))
    return acc, refusals


def summarize(
    rows: Sequence[dict[str, Any]],
    questions: dict[int, dict[str, Any]],
    *,
    order: Sequence[tuple[str, str | None]] = (),
) -> list[dict[str, Any]]:
    """One summary dict per (model, effort), in ``order`` first, then as found in ``rows``.

    Errors count as wrong answers in accuracy and refusal accuracy (a failed
    call did not answer), and are left out of latency, token and cost figures.
    """
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {key: [] for key in order}
    for r in rows:
        groups.setdefault((r["model"], r["effort"]), []).append(r)
    out = []
    for (model, effort), group in groups.items():
        ok = [r for r in group if not r.get("error")]
        acc, refusals = _accuracies(group, questions)
        methods = sorted(
            {(r.get("scores") or {}).get("correctness_method") or "" for r in ok} - {""}
        )
        totals = [r["total_s"] for r in ok if r.get("total_s") is not None]
        firsts = [r["first_token_s"] for r in ok if r.get("first_token_s") is not None]
        # None: the server did not report it (left out of means and totals, not counted as 0).
        prompt = [r["prompt_tokens"] for r in ok if r.get("prompt_tokens") is not None]
        completion = [r["completion_tokens"] for r in ok if r.get("completion_tokens") is not None]
        reasoning = [r["reasoning_tokens"] for r in ok if r.get("reasoning_tokens") is not None]
        costs = [r["cost"] for r in ok if r.get("cost") is not None]

        def scores_of(key: str, rows_: list[dict[str, Any]] = ok) -> list[float]:
            return [float(v) for r in rows_ if (v := (r.get("scores") or {}).get(key)) is not None]

        out.append(
            {
                "model": model,
                "effort": effort,
                "answers": len(group),
                "errors": len(group) - len(ok),
                "accuracy": _mean(acc),
                "accuracy_method": "+".join(methods),
                "faithfulness": _mean(scores_of("faithfulness")),
                "refusal_accuracy": _mean(refusals),
                "citation_precision": _mean(scores_of("citation_precision")),
                "latency_median_s": percentile(totals, 50),
                "latency_p95_s": percentile(totals, 95),
                "first_token_median_s": percentile(firsts, 50),
                "prompt_tokens_mean": _mean(prompt),
                "completion_tokens_mean": _mean(completion),
                "reasoning_tokens_mean": _mean(reasoning),
                "prompt_tokens_total": sum(prompt) if prompt else None,
                "completion_tokens_total": sum(completion) if completion else None,
                "reasoning_tokens_total": sum(reasoning) if reasoning else None,
                "cost_total": sum(costs) if costs else None,
                "cost_unknown": len(ok) - len(costs),
            }
        )
    return out
