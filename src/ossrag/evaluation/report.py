"""The comparison report: one self-contained HTML file, and the summary as Markdown.

    from ossrag.evaluation.report import summary_markdown, write_report
    path = write_report("ossrag-runs.db")              # newest run -> ossrag-report.html
    print(summary_markdown("ossrag-runs.db", "20250807-101500-ab12"))

The HTML has no external resource at all (no CDN, script, stylesheet or
font): inline CSS, plots drawn as inline SVG (:func:`svg_scatter`,
:func:`svg_bars`, from :mod:`ossrag.evaluation.report_svg`), and native ``<details>`` elements
for the collapsed reasoning, so it opens offline and can be mailed as one file.
Sections: the summary table per model x effort, three plots (accuracy vs
median latency, accuracy vs cost, reasoning tokens by effort), every question
with its passages, exact prompt and the answers side by side, the judge
prompt, and the run's settings and versions.

Everything a model or a document wrote (answers, reasoning, passages, errors,
questions, model names) is HTML-escaped and shown as text: Markdown is not
rendered, so a link is only its characters and an image ``![x](https://...)``
is never fetched (a model that read an injected document cannot make the
report send data anywhere by opening it). A Content-Security-Policy in the
page (:data:`CSP`: no scripts, no connections, images only as ``data:``) makes
the same true even if some text ever escaped the escaping.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .report_svg import svg_bars, svg_scatter
from .runs import RunStore, effort_label
from .scoring import JUDGE_PROMPT, summarize

__all__ = [
    "CSP",
    "DEFAULT_REPORT",
    "load_run",
    "markdown_table",
    "render_html",
    "summary_markdown",
    "svg_bars",
    "svg_scatter",
    "write_report",
]

DEFAULT_REPORT = "ossrag-report.html"
#: The report's Content-Security-Policy: inline CSS and SVG only; no script, fetch, frame or form.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
_EFFORT_ORDER = {None: 0, "low": 1, "medium": 2, "high": 3}


# -- loading -----------------------------------------------------------------------------------
def load_run(db_path: str | Path, run_id: str | None = None) -> dict[str, Any]:
    """The run (newest when ``run_id`` is None) with its questions, answers and summary."""
    path = Path(db_path)
    if not path.exists():
        raise ConfigError(
            f"no runs database at {path}", hint="run `ossrag compare` first, or pass --runs-db FILE"
        )
    store = RunStore(path)
    try:
        run = store.get_run(run_id) if run_id else store.latest_run()
        if run is None:
            known = [r["id"] for r in store.list_runs()][-5:]
            raise ConfigError(
                f"no run {run_id!r} in {path}" if run_id else f"no runs in {path}",
                hint=f"known runs: {', '.join(known)}" if known else "run `ossrag compare` first",
            )
        retrievals = store.retrievals(run["id"])
        rows = store.answers(run["id"])
    finally:
        store.close()
    questions = {qi: r["question"] for qi, r in retrievals.items()}
    order = [(m, e) for m in run["models"] for e in run["efforts"]]
    return {
        "run": run,
        "retrievals": retrievals,
        "questions": questions,
        "rows": rows,
        "summary": summarize(rows, questions, order=order),
    }


# -- formatting --------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _sec(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def _usd(x: float | None) -> str:
    if x is None:
        return "?"
    return "0" if x == 0 else f"{x:.4f}" if x < 1 else f"{x:.2f}"


_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("model", lambda s: s["model"]),
    ("effort", lambda s: effort_label(s["effort"])),
    ("answers", lambda s: str(s["answers"])),
    (
        "accuracy",
        lambda s: (
            _pct(s["accuracy"]) + (f" ({s['accuracy_method']})" if s["accuracy_method"] else "")
        ),
    ),
    ("faithfulness", lambda s: _pct(s["faithfulness"])),
    ("refusal acc.", lambda s: _pct(s["refusal_accuracy"])),
    ("citation prec.", lambda s: _pct(s["citation_precision"])),
    ("median s", lambda s: _sec(s["latency_median_s"])),
    ("p95 s", lambda s: _sec(s["latency_p95_s"])),
    ("first token s", lambda s: _sec(s["first_token_median_s"])),
    ("prompt tok", lambda s: _num(s["prompt_tokens_mean"])),
    ("completion tok", lambda s: _num(s["completion_tokens_mean"])),
    ("reasoning tok", lambda s: _num(s["reasoning_tokens_mean"])),
    (
        "cost $",
        lambda s: (
            _usd(s["cost_total"])
            + ("*" if s["cost_unknown"] and s["cost_total"] is not None else "")
        ),
    ),
    ("errors", lambda s: str(s["errors"])),
]


def summary_markdown(db_path: str | Path, run_id: str | None = None) -> str:
    """The summary table (one row per model x effort) as GitHub Markdown."""
    data = load_run(db_path, run_id)
    return markdown_table(data["summary"], data["run"]["id"])


def markdown_table(summary: Sequence[dict[str, Any]], run_id: str) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in _COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(_COLUMNS))) + "|",
    ]
    for s in summary:
        lines.append("| " + " | ".join(f(s).replace("|", "\\|") for _, f in _COLUMNS) + " |")
    notes = [
        f"run `{run_id}`; token columns are means per answer, latency in seconds, cost in USD "
        "for the whole run"
    ]
    if any(s["cost_unknown"] and s["cost_total"] is not None for s in summary):
        notes.append("* some answers had no known price (see --prices)")
    return "\n".join(lines) + "\n\n" + "; ".join(notes)


def _plots(summary: Sequence[dict[str, Any]]) -> list[str]:
    def point(s: dict[str, Any], x: float) -> dict[str, Any]:
        e = effort_label(s["effort"])
        return {
            "x": x,
            "y": s["accuracy"],
            "color": s["model"],
            "shape": e,
            "label": f"{s['model']} ({e}): accuracy {_pct(s['accuracy'])}",
        }

    lat = [
        point(s, s["latency_median_s"])
        for s in summary
        if s["accuracy"] is not None and s["latency_median_s"] is not None
    ]
    cost = [
        point(s, s["cost_total"])
        for s in summary
        if s["accuracy"] is not None and s["cost_total"] is not None
    ]
    no_acc = "no accuracy: questions need a reference (or use --judge)"
    models: dict[str, list[tuple[str, float | None]]] = {}
    for s in sorted(summary, key=lambda s: _EFFORT_ORDER.get(s["effort"], 9)):
        models.setdefault(s["model"], []).append(
            (effort_label(s["effort"]), s["reasoning_tokens_mean"])
        )
    return [
        svg_scatter(
            lat,
            title="Accuracy vs median latency",
            x_label="median latency per answer (s)",
            y_label="accuracy",
            note=no_acc,
        ),
        svg_scatter(
            cost,
            title="Accuracy vs cost",
            x_label="total cost of the run (USD)",
            y_label="accuracy",
            x_fmt="usd",
            note=no_acc,
        ),
        svg_bars(
            list(models.items()),
            title="Reasoning tokens by effort",
            y_label="mean reasoning tokens per answer",
            note="no server reported reasoning token counts",
        ),
    ]


# -- HTML --------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;
padding:1rem 2rem;color:#1d1d1f;background:#fff;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:right}
th{background:#f4f4f6}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
.meta td{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plot{border:1px solid #eee;background:#fcfcfd}.plot .title{font-weight:600;font-size:14px}
.plot .tick{font-size:11px;fill:#444}.plot .axis{font-size:12px;fill:#222}
.plot .grid{stroke:#e6e6e6}.plot .frame{fill:none;stroke:#999}.plot .empty,.plot .note{font-size:12px;fill:#888}
.question{margin:1.5rem 0;padding-top:.5rem;border-top:1px solid #eee}
.answers{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:.8rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;background:#fafafa;overflow-wrap:anywhere}
.card h4{margin:0 0 .3rem 0;font-size:.95rem}.card .text{white-space:pre-wrap;margin:.4rem 0}
.badge{display:inline-block;font-size:.75rem;border-radius:3px;padding:0 .35rem;margin:0 .2rem .2rem 0;background:#e8e8ee}
.ok{background:#d7f2dd}.bad{background:#f8d7da}.error{color:#a00;white-space:pre-wrap}
details{margin:.3rem 0}summary{cursor:pointer;color:#335}pre{white-space:pre-wrap;background:#f4f4f6;
padding:.5rem;font-size:.8rem;overflow-wrap:anywhere}.muted{color:#666;font-size:.85rem}
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _summary_html(summary: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name, _ in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(f(s))}</td>" for _, f in _COLUMNS) + "</tr>" for s in summary
    )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badges(r: dict[str, Any]) -> str:
    sc = r.get("scores") or {}
    out = []
    if sc.get("correctness") is not None:
        cls = "ok" if sc.get("correct") else "bad"
        out.append(
            f'<span class="badge {cls}">correct {_pct(sc["correctness"])} '
            f"({_e(sc.get('correctness_method'))})</span>"
        )
    if sc.get("faithfulness") is not None:
        out.append(
            f'<span class="badge">faithful {_pct(sc["faithfulness"])} '
            f"({_e(sc.get('faithfulness_method'))})</span>"
        )
    if sc.get("citation_precision") is not None:
        out.append(f'<span class="badge">citation prec. {_pct(sc["citation_precision"])}</span>')
    if sc.get("refused"):
        out.append('<span class="badge">refused</span>')
    out.append(
        f'<span class="badge">{_sec(r.get("total_s"))} s (first token {_sec(r.get("first_token_s"))} s)</span>'
    )
    pt, ct = r.get("prompt_tokens"), r.get("completion_tokens")
    tok = f"{'?' if pt is None else pt}+{'?' if ct is None else ct} tok"
    if r.get("reasoning_tokens") is not None:
        tok += f" ({r['reasoning_tokens']} reasoning)"
    out.append(f'<span class="badge">{_e(tok)}</span>')
    out.append(
        f'<span class="badge">${_e(_usd(r.get("cost")))} {_e(r.get("cost_source") or "")}</span>'
    )
    return "".join(out)


def _card(r: dict[str, Any]) -> str:
    parts = [
        f'<div class="card"><h4>{_e(r["model"])} · {_e(effort_label(r["effort"]))}</h4>',
        _badges(r),
    ]
    if r.get("error"):
        parts.append(f'<div class="error">error: {_e(r["error"])}</div>')
    parts.append(f'<div class="text">{_e(r.get("answer") or "")}</div>')
    cites = r.get("citations") or []
    if cites:
        items = "".join(
            f"<li>[{_e(c.get('n'))}] {_e(c.get('source'))}{' — ' + _e(c.get('heading')) if c.get('heading') else ''}"
            f"{'' if c.get('id') else ' <b>(not a given passage)</b>'}</li>"
            for c in cites
        )
        parts.append(f'<ul class="muted">{items}</ul>')
    if r.get("reasoning"):
        n = r.get("reasoning_tokens")
        label = f"Reasoning ({n} tokens)" if n is not None else "Reasoning"
        parts.append(
            f'<details class="reasoning"><summary>{label}</summary><pre>{_e(r["reasoning"])}</pre></details>'
        )
    steps = r.get("steps") or []
    if steps:
        items = "".join(
            f"<li><pre>{_e(json.dumps(st, ensure_ascii=False))}</pre></li>" for st in steps
        )
        parts.append(
            f"<details><summary>Agent steps ({len(steps)})</summary><ol>{items}</ol></details>"
        )
    judge = (r.get("scores") or {}).get("judge")
    if judge:
        parts.append(
            f"<details><summary>Judge</summary><pre>{_e(json.dumps(judge, indent=2, ensure_ascii=False))}</pre></details>"
        )
    if r.get("warnings"):
        parts.append(f'<div class="muted">{_e("; ".join(r["warnings"]))}</div>')
    parts.append("</div>")
    return "".join(parts)


def _question_html(
    qi: int, retrieval: dict[str, Any], rows: list[dict[str, Any]], order: list[tuple[str, Any]]
) -> str:
    q = retrieval["question"]
    meta = []
    if q.get("reference"):
        meta.append(f"<b>Reference:</b> {_e(q['reference'])}")
    if q.get("answerable") is False:
        meta.append("<b>Not answerable</b> from the documents: a refusal is the correct answer")
    if q.get("relevant"):
        meta.append(f"<b>Relevant:</b> {_e(', '.join(q['relevant']))}")
    hits = retrieval["hits"]
    passages = "".join(
        f"<li><b>{_e(h['source'])}</b>{' — ' + _e(h['heading']) if h.get('heading') else ''} "
        f'<span class="muted">score {h["score"]:.3f}</span><pre>{_e(h["text"])}</pre></li>'
        for h in hits
    )
    rank = {key: i for i, key in enumerate(order)}
    rows = sorted(rows, key=lambda r: rank.get((r["model"], r["effort"]), len(rank)))
    prompt = next((r.get("messages") for r in rows if r.get("messages")), None)
    parts = [f'<section class="question" id="q{qi + 1}"><h3>Q{qi + 1}. {_e(q["question"])}</h3>']
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
        parts.append(f"<details><summary>Exact prompt</summary><pre>{_e(text)}</pre></details>")
    parts.append('<div class="answers">' + "".join(_card(r) for r in rows) + "</div></section>")
    return "".join(parts)


def render_html(data: dict[str, Any]) -> str:
    """The report page for one run (see :func:`load_run`)."""
    run, summary, rows = data["run"], data["summary"], data["rows"]
    order = [(m, e) for m in run["models"] for e in run["efforts"]]
    by_q: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_q.setdefault(r["qindex"], []).append(r)
    judge = run.get("judge")
    settings_rows = [
        ("run", run["id"]),
        ("created", run["created"]),
        ("knowledge base", f"{run['kb']} @ {run['uri']}"),
        ("models", ", ".join(run["models"])),
        ("efforts", ", ".join(effort_label(e) for e in run["efforts"])),
        ("judge", judge or "none (correctness = token F1; faithfulness = citation proxy)"),
        ("template", run["template"]),
        ("questions file", run.get("questions_file") or "—"),
        ("questions hash", run["questions_hash"]),
    ]
    settings_rows += [
        (f"version: {k}", v or "not installed") for k, v in (run.get("versions") or {}).items()
    ]
    meta = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in settings_rows)
    questions = "".join(
        _question_html(qi, data["retrievals"][qi], by_q.get(qi, []), order)
        for qi in sorted(data["retrievals"])
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ossrag compare — {_e(run["id"])}</title><style>{_CSS}</style></head>
<body>
<h1>ossrag model comparison</h1>
<p class="muted">run {_e(run["id"])} · {len(data["retrievals"])} questions · {len(rows)} answers · generated {generated}</p>
<h2>Summary</h2>
{_summary_html(summary)}
<p class="muted">Accuracy: judge verdicts, or token F1 against the reference without a judge; on
questions marked not answerable, a refusal counts as correct. Errors count as wrong answers.
Faithfulness: the judge's estimate, or without a judge a proxy, the share of answer sentences
that cite a passage that was given (citation discipline, not truth). Latency and tokens are per
answer (median, p95, means); cost is the total for the run, from the provider's reported cost
where present, else the price table.</p>
<h2>Plots</h2>
<div class="plots">{"".join(_plots(summary))}</div>
<h2>Questions and answers</h2>
{questions}
<h2>Judge prompt</h2>
<p class="muted">{"Used with " + _e(judge) if judge else "Not used in this run (no --judge)."}</p>
<pre class="judge-prompt">{_e(JUDGE_PROMPT)}</pre>
<h2>Settings and versions</h2>
<table class="meta">{meta}</table>
<details><summary>All settings (JSON)</summary><pre>{_e(json.dumps(run.get("settings"), indent=2, ensure_ascii=False))}</pre></details>
</body></html>
"""


def write_report(
    db_path: str | Path, run_id: str | None = None, out: str | Path = DEFAULT_REPORT
) -> Path:
    """Write the HTML report of a run (the newest when ``run_id`` is None); returns its path."""
    page = render_html(load_run(db_path, run_id))
    path = Path(out)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
