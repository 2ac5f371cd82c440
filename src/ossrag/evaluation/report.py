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

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._report_questions import question_html
from ._report_summary import esc, markdown_table, plots, summary_html
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


def summary_markdown(db_path: str | Path, run_id: str | None = None) -> str:
    """The summary table (one row per model x effort) as GitHub Markdown."""
    data = load_run(db_path, run_id)
    return markdown_table(data["summary"], data["run"]["id"])


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
    meta = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in settings_rows)
    questions = "".join(
        question_html(qi, data["retrievals"][qi], by_q.get(qi, []), order)
        for qi in sorted(data["retrievals"])
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ossrag compare — {esc(run["id"])}</title><style>{_CSS}</style></head>
<body>
<h1>ossrag model comparison</h1>
<p class="muted">run {esc(run["id"])} · {len(data["retrievals"])} questions · {len(rows)} answers · generated {generated}</p>
<h2>Summary</h2>
{summary_html(summary)}
<p class="muted">Accuracy: judge verdicts, or token F1 against the reference without a judge; on
questions marked not answerable, a refusal counts as correct. Errors count as wrong answers.
Faithfulness: the judge's estimate, or without a judge a proxy, the share of answer sentences
that cite a passage that was given (citation discipline, not truth). Latency and tokens are per
answer (median, p95, means); cost is the total for the run, from the provider's reported cost
where present, else the price table.</p>
<h2>Plots</h2>
<div class="plots">{"".join(plots(summary))}</div>
<h2>Questions and answers</h2>
{questions}
<h2>Judge prompt</h2>
<p class="muted">{"Used with " + esc(judge) if judge else "Not used in this run (no --judge)."}</p>
<pre class="judge-prompt">{esc(JUDGE_PROMPT)}</pre>
<h2>Settings and versions</h2>
<table class="meta">{meta}</table>
<details><summary>All settings (JSON)</summary><pre>{esc(json.dumps(run.get("settings"), indent=2, ensure_ascii=False))}</pre></details>
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
