"""The report's summary: one row per model x effort, as Markdown or HTML, and its plots.

    summary = load_run("ossrag-runs.db")["summary"]
    print(markdown_table(summary, "20250807-101500-ab12"))   # GitHub Markdown
    summary_html(summary)        # the same columns as an HTML <table>
    plots(summary)               # three inline <svg> plots (accuracy vs latency, vs cost, ...)

:data:`COLUMNS` is the one list of columns both tables show; :func:`esc` escapes
every text a model or document wrote.  Private to :mod:`ossrag.evaluation.report`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from .report_svg import svg_bars, svg_scatter
from .runs import effort_label

__all__ = ["COLUMNS", "esc", "markdown_table", "num", "pct", "plots", "sec", "summary_html", "usd"]

_EFFORT_ORDER = {None: 0, "low": 1, "medium": 2, "high": 3}


# -- formatting --------------------------------------------------------------------------------
def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def sec(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def num(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def usd(x: float | None) -> str:
    if x is None:
        return "?"
    return "0" if x == 0 else f"{x:.4f}" if x < 1 else f"{x:.2f}"


COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("model", lambda s: s["model"]),
    ("effort", lambda s: effort_label(s["effort"])),
    ("answers", lambda s: str(s["answers"])),
    (
        "accuracy",
        lambda s: (
            pct(s["accuracy"]) + (f" ({s['accuracy_method']})" if s["accuracy_method"] else "")
        ),
    ),
    ("faithfulness", lambda s: pct(s["faithfulness"])),
    ("refusal acc.", lambda s: pct(s["refusal_accuracy"])),
    ("citation prec.", lambda s: pct(s["citation_precision"])),
    ("median s", lambda s: sec(s["latency_median_s"])),
    ("p95 s", lambda s: sec(s["latency_p95_s"])),
    ("first token s", lambda s: sec(s["first_token_median_s"])),
    ("prompt tok", lambda s: num(s["prompt_tokens_mean"])),
    ("completion tok", lambda s: num(s["completion_tokens_mean"])),
    ("reasoning tok", lambda s: num(s["reasoning_tokens_mean"])),
    (
        "cost $",
        lambda s: (
            usd(s["cost_total"])
            + ("*" if s["cost_unknown"] and s["cost_total"] is not None else "")
        ),
    ),
    ("errors", lambda s: str(s["errors"])),
]


def markdown_table(summary: Sequence[dict[str, Any]], run_id: str) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    for s in summary:
        lines.append("| " + " | ".join(f(s).replace("|", "\\|") for _, f in COLUMNS) + " |")
    notes = [
        f"run `{run_id}`; token columns are means per answer, latency in seconds, cost in USD "
        "for the whole run"
    ]
    if any(s["cost_unknown"] and s["cost_total"] is not None for s in summary):
        notes.append("* some answers had no known price (see --prices)")
    return "\n".join(lines) + "\n\n" + "; ".join(notes)


def summary_html(summary: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{esc(name)}</th>" for name, _ in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(f(s))}</td>" for _, f in COLUMNS) + "</tr>" for s in summary
    )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def plots(summary: Sequence[dict[str, Any]]) -> list[str]:
    def point(s: dict[str, Any], x: float) -> dict[str, Any]:
        e = effort_label(s["effort"])
        return {
            "x": x,
            "y": s["accuracy"],
            "color": s["model"],
            "shape": e,
            "label": f"{s['model']} ({e}): accuracy {pct(s['accuracy'])}",
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
