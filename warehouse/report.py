"""A self-contained HTML run report: inline SVG charts drawn here, no scripts, no network."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

PALETTE = ("#2f6db5", "#e07b39", "#3a9e6f", "#c9453f", "#8a63b8", "#8c6d46", "#d16fb1",
           "#6f7a86", "#b5a22f", "#2fb3c0")  # fmt: skip
ASSERTION_COLOURS = {
    "affirmed": "#3a9e6f",
    "negated": "#c9453f",
    "uncertain": "#e0a339",
    "historical": "#6f7a86",
    "hypothetical": "#8a63b8",
    "family": "#2f6db5",
    "conditional": "#b5a22f",
}


#: Hex characters of a ``name:<hash>`` concept key shown in the top-concepts chart.
NAME_KEY_SHOWN = 6


@dataclass
class ReportData:
    """Everything the report shows, read from the analyst views."""

    generated_at: datetime
    notes_by_status: list[tuple[str, int]]
    mentions_by_label: list[tuple[str, int]]
    assertion_mix: list[tuple[str, int]]
    top_concepts: list[tuple[str, int]]
    errors_by_stage: list[tuple[str, int]]
    runs: list[dict[str, Any]] = field(default_factory=list)


def _pairs(conn: Connection, sql: str) -> list[tuple[str, int]]:
    return [(str(k) if k is not None else "(none)", int(v)) for k, v in conn.execute(text(sql))]


def collect(conn: Connection, *, top: int = 15, runs: int = 30) -> ReportData:
    """Read the report's figures from the views."""
    run_rows = [
        dict(r._mapping)
        for r in conn.execute(
            text(
                "SELECT run_id, flow, status, started_at, duration_s, notes_seen, "
                "notes_processed, notes_unchanged, notes_failed, notes_retracted, mentions, "
                "resources, notes_per_s, rules_version FROM run_history "
                "ORDER BY started_at DESC, run_id DESC"
            )
        ).fetchmany(runs)
    ]
    run_rows.reverse()
    return ReportData(
        generated_at=datetime.now(UTC),
        notes_by_status=_pairs(
            conn, "SELECT status, count(*) FROM note_status GROUP BY status ORDER BY 2 DESC, 1"
        ),
        mentions_by_label=_pairs(
            conn, "SELECT label, count(*) FROM mention_current GROUP BY label ORDER BY 2 DESC, 1"
        ),
        assertion_mix=_pairs(
            conn,
            "SELECT assertion, count(*) FROM mention_current GROUP BY assertion "
            "ORDER BY 2 DESC, 1",
        ),
        top_concepts=_pairs(
            conn,
            "SELECT COALESCE(MAX(concept_display), concept_key) || "
            # concepts known only by the hash of their name share one display ('uncoded
            # medication'): the start of the hash tells their bars apart
            f"CASE WHEN concept_key LIKE 'name:%' THEN ' #' || SUBSTR(concept_key, 6, "
            f"{NAME_KEY_SHOWN}) ELSE '' END || ' [' || label || ']', "
            "count(*) FROM mention_current GROUP BY concept_key, label "
            f"ORDER BY 2 DESC, 1 LIMIT {int(top)}",
        ),
        errors_by_stage=_pairs(
            conn, "SELECT stage, count(*) FROM note_error GROUP BY stage ORDER BY 2 DESC, 1"
        ),
        runs=run_rows,
    )


# --- SVG ------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt(value: float) -> str:
    if value >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def _empty(title: str, width: int, message: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="90" role="img" '
        f'aria-label="{_e(title)}"><rect x="0" y="0" width="{width}" height="90" fill="#fafafa" '
        f'stroke="#ddd"/><text x="{width / 2}" y="50" text-anchor="middle" fill="#777" '
        f'font-size="13">{_e(message)}</text></svg>'
    )


def hbar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 560,
    colours: dict[str, str] | None = None,
    empty: str = "no data",
) -> str:
    """A horizontal bar chart as an SVG string."""
    if not items:
        return _empty(title, width, empty)
    label_w = min(280, max(80, int(7.6 * max(len(k) for k, _ in items)) + 12))
    bar_h, gap, top = 20, 6, 8
    plot_w = width - label_w - 70
    vmax = _nice_max(max(v for _, v in items))
    height = top + len(items) * (bar_h + gap) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" font-size="12">'
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(1.0, plot_w * value / vmax)
        default = PALETTE[i % len(PALETTE)] if colours is None else "#2f6db5"
        colour = (colours or {}).get(label, default)
        short = label if len(label) <= 40 else label[:38] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
            f'fill="#333">{_e(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{_e(label)}: {_e(_fmt(value))}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}" fill="#333">'
            f"{_e(_fmt(value))}</text>"
        )
    axis_y = top + len(items) * (bar_h + gap)
    parts.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" '
        f'stroke="#bbb"/><text x="{label_w}" y="{axis_y + 15}" fill="#777">0</text>'
        f'<text x="{label_w + plot_w}" y="{axis_y + 15}" text-anchor="end" fill="#777">'
        f"{_e(_fmt(vmax))}</text></svg>"
    )
    return "".join(parts)


def stacked_bar(title: str, items: Sequence[tuple[str, float]], *, width: int = 560) -> str:
    """One 100% stacked bar with a legend (a mix, e.g. assertions)."""
    total = sum(v for _, v in items)
    if not items or total <= 0:
        return _empty(title, width, "no mentions")
    bar_h, legend_row = 34, 20
    cols = 3
    rows = math.ceil(len(items) / cols)
    height = 10 + bar_h + 12 + rows * legend_row
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" font-size="12">'
    ]
    x = 0.0
    for i, (label, value) in enumerate(items):
        w = width * value / total
        colour = ASSERTION_COLOURS.get(label, PALETTE[i % len(PALETTE)])
        parts.append(
            f'<rect x="{x:.1f}" y="10" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{_e(label)}: {_e(_fmt(value))} ({100 * value / total:.1f}%)</title></rect>"
        )
        x += w
    for i, (label, value) in enumerate(items):
        col, row = i % cols, i // cols
        lx, ly = col * (width / cols), 10 + bar_h + 12 + row * legend_row
        colour = ASSERTION_COLOURS.get(label, PALETTE[i % len(PALETTE)])
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 17:.1f}" y="{ly + 10}" fill="#333">{_e(label)} '
            f"{_e(_fmt(value))} ({100 * value / total:.0f}%)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    width: int = 560,
    height: int = 240,
) -> str:
    """Lines over an ordinal x axis (runs), with a legend."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not x_labels or not values:
        return _empty(title, width, "no runs yet")
    left, right, top, bottom = 52, 12, 26, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = _nice_max(max(values))
    n = len(x_labels)

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + plot_h * (1 - v / vmax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" font-size="11">'
    ]
    for k in range(5):
        v = vmax * k / 4
        y = py(v)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" fill="#777">'
            f"{_e(_fmt(v))}</text>"
        )
    step = max(1, math.ceil(n / 8))
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'fill="#777">{_e(label)}</text>'
            )
    for s, (name, vs) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        pts = [(px(i), py(v)) for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for (x, y), v in zip(pts, [v for v in vs if v is not None], strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                f"<title>{_e(name)}: {_e(_fmt(v))}</title></circle>"
            )
        lx = left + s * 150
        parts.append(
            f'<rect x="{lx}" y="6" width="12" height="4" fill="{colour}"/>'
            f'<text x="{lx + 17}" y="12" fill="#333">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 10px}
.sub{color:#666;font-size:13px;margin-bottom:18px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:18px}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.tile b{display:block;font-size:20px}.tile span{color:#666;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(580px,1fr));gap:18px}
.card{border:1px solid #ddd;border-radius:6px;padding:12px 14px;overflow-x:auto}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:right;white-space:nowrap}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.status-completed{color:#2e7d4f}.status-failed,.status-crashed{color:#b3261e}
.status-running{color:#a06a00}
footer{color:#888;font-size:11px;margin-top:18px}
"""


def _card(title: str, body: str) -> str:
    return f'<section class="card"><h2>{_e(title)}</h2>{body}</section>'


def _run_table(runs: Sequence[dict[str, Any]]) -> str:
    if not runs:
        return "<p>No runs recorded yet.</p>"
    cols = [
        ("started_at", "started (UTC)", "l"),
        ("flow", "flow", "l"),
        ("status", "status", "l"),
        ("notes_seen", "read", ""),
        ("notes_processed", "processed", ""),
        ("notes_unchanged", "unchanged", ""),
        ("notes_failed", "failed", ""),
        ("notes_retracted", "retracted", ""),
        ("mentions", "mentions", ""),
        ("resources", "resources", ""),
        ("duration_s", "seconds", ""),
        ("notes_per_s", "notes/s", ""),
        ("rules_version", "rules", "l"),
        ("run_id", "run id", "l"),
    ]
    head = "".join(f'<th class="{c}">{_e(t)}</th>' for _, t, c in cols)
    body = []
    for r in reversed(runs):
        cells = []
        for key, _, cls in cols:
            v = r.get(key)
            if v is None:
                shown = ""
            elif key == "started_at":
                shown = str(v)[:19]
            elif isinstance(v, float):
                shown = _fmt(v)
            elif key == "run_id":
                shown = str(v)[:8]
            else:
                shown = str(v)
            extra = f" status-{_e(v)}" if key == "status" else ""
            cells.append(f'<td class="{cls}{extra}">{_e(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(data: ReportData, *, title: str = "notestruct warehouse report") -> str:
    """The report as one HTML document (inline CSS and SVG only)."""
    runs = data.runs
    x = [f"#{i + 1}" for i in range(len(runs))]
    tiles = [
        ("notes", sum(v for _, v in data.notes_by_status)),
        *[(f"notes {k}", v) for k, v in data.notes_by_status],
        ("mentions", sum(v for _, v in data.mentions_by_label)),
        ("errors", sum(v for _, v in data.errors_by_stage)),
        ("runs", len(runs)),
    ]
    tiles_html = "".join(
        f'<div class="tile"><b>{_e(f"{v:,}")}</b><span>{_e(k)}</span></div>' for k, v in tiles
    )
    charts = [
        _card("Mentions per label", hbar_chart("Mentions per label", data.mentions_by_label)),
        _card("Assertion mix", stacked_bar("Assertion mix", data.assertion_mix)),
        _card(
            f"Top {len(data.top_concepts)} concepts",
            hbar_chart("Top concepts", data.top_concepts, colours={}),
        ),
        _card(
            "Errors by stage (all runs)",
            hbar_chart("Errors by stage", data.errors_by_stage, empty="no errors recorded"),
        ),
        _card(
            "Throughput per run (records read per second)",
            line_chart(
                "Throughput",
                x,
                [("notes/s", [_num(r.get("notes_per_s")) for r in runs])],
            ),
        ),
        _card(
            "Trend over runs",
            line_chart(
                "Trend over runs",
                x,
                [
                    ("notes processed", [_num(r.get("notes_processed")) for r in runs]),
                    ("mentions", [_num(r.get("mentions")) for r in runs]),
                    ("failed", [_num(r.get("notes_failed")) for r in runs]),
                ],
            ),
        ),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<div class="sub">Generated {_e(data.generated_at.strftime("%Y-%m-%d %H:%M UTC"))} '
        "from the warehouse views (current notes only; no note text).</div>"
        f'<div class="tiles">{tiles_html}</div>'
        f'<div class="grid">{"".join(charts)}</div>'
        f'<section class="card" style="margin-top:18px"><h2>Run history (latest first, '
        f"{len(runs)} shown)</h2>{_run_table(runs)}</section>"
        "<footer>notestruct · runs are numbered oldest (#1) to newest in the charts.</footer>"
        "</body></html>\n"
    )


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def write_report(engine: Engine, out: Path, *, top: int = 15, runs: int = 30) -> ReportData:
    """Collect the figures and write the HTML report to ``out``."""
    with engine.connect() as conn:
        data = collect(conn, top=top, runs=runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return data
