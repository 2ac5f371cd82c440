"""The report's questions: each with its passages, exact prompt and every answer as a card.

    question_html(0, data["retrievals"][0], rows_of_q0, order=[("local:smollm2", "low")])

A card shows one answer with its scores, latency, tokens and cost as badges,
its citations, and its reasoning, agent steps and judge verdict collapsed in
``<details>``.  Everything is escaped text (:func:`~._report_summary.esc`).
Private to :mod:`ossrag.evaluation.report`.
"""

from __future__ import annotations

import json
from typing import Any

from ._report_summary import esc, pct, sec, usd
from .runs import effort_label

__all__ = ["question_html"]


def _badges(r: dict[str, Any]) -> str:
    sc = r.get("scores") or {}
    out = []
    if sc.get("correctness") is not None:
        cls = "ok" if sc.get("correct") else "bad"
        out.append(
            f'<span class="badge {cls}">correct {pct(sc["correctness"])} '
            f"({esc(sc.get('correctness_method'))})</span>"
        )
    if sc.get("faithfulness") is not None:
        out.append(
            f'<span class="badge">faithful {pct(sc["faithfulness"])} '
            f"({esc(sc.get('faithfulness_method'))})</span>"
        )
    if sc.get("citation_precision") is not None:
        out.append(f'<span class="badge">citation prec. {pct(sc["citation_precision"])}</span>')
    if sc.get("refused"):
        out.append('<span class="badge">refused</span>')
    out.append(
        f'<span class="badge">{sec(r.get("total_s"))} s (first token {sec(r.get("first_token_s"))} s)</span>'
    )
    pt, ct = r.get("prompt_tokens"), r.get("completion_tokens")
    tok = f"{'?' if pt is None else pt}+{'?' if ct is None else ct} tok"
    if r.get("reasoning_tokens") is not None:
        tok += f" ({r['reasoning_tokens']} reasoning)"
    out.append(f'<span class="badge">{esc(tok)}</span>')
    out.append(
        f'<span class="badge">${esc(usd(r.get("cost")))} {esc(r.get("cost_source") or "")}</span>'
    )
    return "".join(out)


def _card(r: dict[str, Any]) -> str:
    parts = [
        f'<div class="card"><h4>{esc(r["model"])} · {esc(effort_label(r["effort"]))}</h4>',
        _badges(r),
    ]
    if r.get("error"):
        parts.append(f'<div class="error">error: {esc(r["error"])}</div>')
    parts.append(f'<div class="text">{esc(r.get("answer") or "")}</div>')
    cites = r.get("citations") or []
    if cites:
        items = "".join(
            f"<li>[{esc(c.get('n'))}] {esc(c.get('source'))}{' — ' + esc(c.get('heading')) if c.get('heading') else ''}"
            f"{'' if c.get('id') else ' <b>(not a given passage)</b>'}</li>"
            for c in cites
        )
        parts.append(f'<ul class="muted">{items}</ul>')
    if r.get("reasoning"):
        n = r.get("reasoning_tokens")
        label = f"Reasoning ({n} tokens)" if n is not None else "Reasoning"
        parts.append(
            f'<details class="reasoning"><summary>{label}</summary><pre>{esc(r["reasoning"])}</pre></details>'
        )
    steps = r.get("steps") or []
    if steps:
        items = "".join(
            f"<li><pre>{esc(json.dumps(st, ensure_ascii=False))}</pre></li>" for st in steps
        )
        parts.append(
            f"<details><summary>Agent steps ({len(steps)})</summary><ol>{items}</ol></details>"
        )
    judge = (r.get("scores") or {}).get("judge")
    if judge:
        parts.append(
            f"<details><summary>Judge</summary><pre>{esc(json.dumps(judge, indent=2, ensure_ascii=False))}</pre></details>"
        )
    if r.get("warnings"):
        parts.append(f'<div class="muted">{esc("; ".join(r["warnings"]))}</div>')
    parts.append("</div>")
    return "".join(parts)


def question_html(
    qi: int, retrieval: dict[str, Any], rows: list[dict[str, Any]], order: list[tuple[str, Any]]
) -> str:
    q = retrieval["question"]
    meta = []
    if q.get("reference"):
        meta.append(f"<b>Reference:</b> {esc(q['reference'])}")
    if q.get("answerable") is False:
        meta.append("<b>Not answerable</b> from the documents: a refusal is the correct answer")
    if q.get("relevant"):
        meta.append(f"<b>Relevant:</b> {esc(', '.join(q['relevant']))}")
    hits = retrieval["hits"]
    passages = "".join(
        f"<li><b>{esc(h['source'])}</b>{' — ' + esc(h['heading']) if h.get('heading') else ''} "
        f'<span class="muted">score {h["score"]:.3f}</span><pre>{esc(h["text"])}</pre></li>'
        for h in hits
    )
    rank = {key: i for i, key in enumerate(order)}
    rows = sorted(rows, key=lambda r: rank.get((r["model"], r["effort"]), len(rank)))
    prompt = next((r.get("messages") for r in rows if r.get("messages")), None)
    parts = [f'<section class="question" id="q{qi + 1}"><h3>Q{qi + 1}. {esc(q["question"])}</h3>']
    parts += [f'<div class="muted">{m}</div>' for m in meta]
    parts.append(
        f"<details><summary>Passages ({len(hits)}, retrieved once for every model)</summary><ol>{passages}</ol></details>"
    )
    if prompt:
        text = "\n\n".join(
            f"--- {m.get('role')} ---\n"
            + (m.get("content") or json.dumps(m.get("tool_calls") or "", ensure_ascii=False))
            for m in prompt
        )
        parts.append(f"<details><summary>Exact prompt</summary><pre>{esc(text)}</pre></details>")
    parts.append('<div class="answers">' + "".join(_card(r) for r in rows) + "</div></section>")
    return "".join(parts)
