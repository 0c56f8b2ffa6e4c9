"""Self-contained HTML pages that show note text: the note viewer and the error browser.

Both pages are one file with inline CSS and JavaScript and nothing fetched from the network.
They contain note text: treat them as patient data (the CLI says so when writing them).

Mentions are ``notestruct extract``-shaped dicts (``Mention.to_contract``). Highlights are
``<mark>`` elements; a mention that crosses another or a section boundary is drawn in
fragments, the first of which has the class ``head`` (so ``mark.head`` counts mentions).
Mention data reaches the page as JSON in a ``<script type="application/json">`` block and
is written into the page with ``textContent`` only, so note text cannot inject markup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from schemas.model import ASSERTION_FLAGS

#: Fixed colours for the built-in labels; other labels get one from their name.
LABEL_COLOURS: dict[str, str] = {
    "PROBLEM": "#ffd6d6",
    "MEDICATION": "#d6e8ff",
    "PROCEDURE": "#e6dcff",
    "LAB": "#d8f5d0",
    "VITAL": "#fff1c2",
    "ALLERGY": "#ffdcb8",
}

PHI_WARNING = (
    "This page contains note text. Treat it as patient data: do not share, upload or "
    "keep it beyond the review."
)


@dataclass(frozen=True)
class ViewNote:
    """One note to draw: its text, mentions (extract shape) and sections (category, span)."""

    note_id: str
    text: str
    mentions: tuple[Mapping[str, Any], ...]
    sections: tuple[tuple[str | None, int, int], ...] = ()


def label_colour(label: str) -> str:
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    hue = int(hashlib.sha256(label.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 70%, 86%)"


def _css_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def flags_of(m: Mapping[str, Any]) -> list[str]:
    """The assertion flags set on a mention, in the canonical order."""
    return [f for f in ASSERTION_FLAGS if m.get(f)]


def _json_script(element_id: str, data: Any) -> str:
    payload = json.dumps(data, ensure_ascii=False, default=str)
    # "</script>" or "<!--" inside note text must not end or comment out the block
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="{element_id}" type="application/json">{payload}</script>'


def _title(m: Mapping[str, Any]) -> str:
    parts = [str(m.get("label"))]
    flags = flags_of(m)
    if flags:
        parts.append(", ".join(flags))
    for c in m.get("codes") or ():
        system = str(c.get("system", "")).rstrip("/").rsplit("/", 1)[-1]
        parts.append(f"{system} {c.get('code')}" + (f" {c['display']}" if c.get("display") else ""))
    by = str(m.get("extractor") or "")
    if m.get("rule_id"):
        by += f" / {m['rule_id']}"
    if by:
        parts.append(by)
    return " · ".join(parts)


def highlight(
    text: str,
    start: int,
    end: int,
    marks: Sequence[tuple[int, int, str, str]],
) -> str:
    """HTML of ``text[start:end]`` with marks ``(s, e, open_attrs, tail_html)`` drawn.

    Marks are clipped to the range; crossing marks are split so the HTML nests. A mark's
    first fragment gets the class ``head``, later ones ``cont``; ``tail_html`` (badges) goes
    inside its last fragment.
    """
    clipped = [
        (max(s, start), min(e, end), attrs, tail, s >= start, e <= end, k)
        for k, (s, e, attrs, tail) in enumerate(marks)
        if s < end and e > start and s < e
    ]
    bounds = sorted({start, end} | {c[0] for c in clipped} | {c[1] for c in clipped})
    by_start: dict[int, list[int]] = {}
    for idx, c in enumerate(clipped):
        by_start.setdefault(c[0], []).append(idx)
    out: list[str] = []
    stack: list[int] = []
    opened: set[int] = set()

    def open_tag(idx: int) -> str:
        c = clipped[idx]
        first = idx not in opened and c[4]
        opened.add(idx)
        cls = "head" if first else "cont"
        return "<mark " + c[2].replace('class="', f'class="{cls} ', 1) + ">"

    def close_tag(idx: int, final: bool) -> str:
        c = clipped[idx]
        return (c[3] if final and c[5] else "") + "</mark>"

    for n, pos in enumerate(bounds):
        if any(clipped[k][1] == pos for k in stack):
            reopen: list[int] = []
            while any(clipped[k][1] == pos for k in stack):
                k = stack.pop()
                final = clipped[k][1] == pos
                out.append(close_tag(k, final))
                if not final:
                    reopen.append(k)
            for k in reversed(reopen):
                out.append(open_tag(k))
                stack.append(k)
        for k in sorted(by_start.get(pos, []), key=lambda i: -clipped[i][1]):
            out.append(open_tag(k))
            stack.append(k)
        if n + 1 < len(bounds):
            out.append(escape(text[pos : bounds[n + 1]], quote=False))
    while stack:  # pragma: no cover  every mark ends at a boundary
        out.append(close_tag(stack.pop(), True))
    return "".join(out)


def _badges(flags: Sequence[str]) -> str:
    return "".join(f'<span class="badge b-{f}">{f}</span>' for f in flags)


def _note_marks(note_index: int, note: ViewNote) -> list[tuple[int, int, str, str]]:
    marks = []
    for i, m in enumerate(note.mentions):
        flags = flags_of(m)
        label = str(m.get("label"))
        attrs = (
            f'class="m L-{_css_name(label)}" data-n="{note_index}" data-i="{i}" '
            f'data-label="{escape(label)}" data-flags="{" ".join(flags)}" '
            f'title="{escape(_title(m))}" tabindex="0"'
        )
        marks.append((int(m["start"]), int(m["end"]), attrs, _badges(flags)))
    return marks


def _note_text_html(note_index: int, note: ViewNote) -> str:
    """The note text, cut into sections, with the mentions highlighted."""
    marks = _note_marks(note_index, note)
    cuts: list[tuple[str | None, int, int]] = []
    pos = 0
    for category, s, e in sorted(note.sections, key=lambda x: x[1]):
        s, e = max(s, pos), min(e, len(note.text))
        if s >= e:
            continue
        if s > pos:
            cuts.append((None, pos, s))
        cuts.append((category, s, e))
        pos = e
    if pos < len(note.text) or not cuts:
        cuts.append((None, pos, len(note.text)))
    parts = []
    for k, (category, s, e) in enumerate(cuts):
        body = highlight(note.text, s, e, marks)
        if category:
            parts.append(
                f'<section class="sec sec-{k % 2}" data-section="{escape(category)}">'
                f'<span class="sec-name" aria-hidden="true">{escape(category)}</span>'
                f"{body}</section>"
            )
        else:
            parts.append(f'<section class="sec sec-none">{body}</section>')
    return "".join(parts)


def _mention_list(note_index: int, note: ViewNote) -> str:
    items = []
    for i, m in enumerate(note.mentions):
        flags = flags_of(m)
        label = str(m.get("label"))
        snippet = note.text[int(m["start"]) : int(m["end"])]
        items.append(
            f'<li class="mi" data-n="{note_index}" data-i="{i}" data-label="{escape(label)}" '
            f'data-flags="{" ".join(flags)}" tabindex="0">'
            f'<span class="lab L-{_css_name(label)}">{escape(label)}</span> '
            f"{escape(snippet)} {_badges(flags)}</li>"
        )
    return f'<ol class="mlist">{"".join(items)}</ol>'


_CSS = """
:root{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330}
body{margin:0;background:#f6f7f9}
header{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #d5d9e0;
 padding:.5rem 1rem}
h1{font-size:1.1rem;margin:.2rem 0}
.phi{background:#fff4e5;border:1px solid #f0b35b;padding:.3rem .6rem;margin:.3rem 0;
 font-size:.85rem}
.filters{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.85rem;align-items:center}
.filters fieldset{border:none;margin:0;padding:0}
.filters legend{font-weight:600;float:left;margin-right:.4rem}
.filters label{margin-right:.5rem;white-space:nowrap}
main{padding:1rem}
article.note{background:#fff;border:1px solid #d5d9e0;border-radius:6px;margin-bottom:1.2rem}
article.note h2{font-size:1rem;margin:0;padding:.5rem .8rem;border-bottom:1px solid #e3e6eb}
.grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(16rem,1fr)}
.text{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;
 font-size:.88rem;line-height:1.75;padding:.6rem .8rem}
.sec{display:block;position:relative;border-left:3px solid transparent;padding-left:.4rem}
.sec-0{background:#f3f6fb;border-left-color:#9db2d6}
.sec-1{background:#f7f3fb;border-left-color:#b9a3d6}
.sec-name{position:absolute;right:.3rem;top:0;font:600 .7rem system-ui,sans-serif;
 color:#4a5670;background:#ffffffcc;padding:0 .3rem;border-radius:3px;user-select:none}
mark{border-radius:3px;padding:0 1px;border-bottom:2px solid #0002;cursor:pointer;color:inherit}
mark.sel{outline:2px solid #1d4ed8}
mark.off{background:none!important;border-bottom:none;cursor:auto}
mark.off>.badge,li.off{display:none}
.badge{display:inline-block;font:600 .62rem system-ui,sans-serif;padding:0 .3rem;margin-left:2px;
 border-radius:8px;vertical-align:super;line-height:1.2;color:#fff;user-select:none}
.b-negated{background:#c0392b}.b-uncertain{background:#b9770e}.b-historical{background:#6c757d}
.b-hypothetical{background:#7d3c98}.b-family{background:#1e8449}.b-conditional{background:#2e86c1}
aside{border-left:1px solid #e3e6eb;padding:.4rem .6rem;font-size:.82rem;max-height:80vh;
 overflow:auto}
.mlist{margin:0;padding-left:1.4rem}.mlist li{cursor:pointer;margin:.15rem 0}
.mlist li.sel{background:#e8eefc}
.lab{font:600 .68rem system-ui,sans-serif;padding:0 .25rem;border-radius:3px}
#details{font-size:.82rem;border:1px solid #d5d9e0;background:#fbfcfe;padding:.4rem .6rem;
 margin-top:.4rem;min-height:1.4rem}
#details table{border-collapse:collapse}#details td{padding:0 .6rem 0 0;vertical-align:top}
#details td:first-child{color:#4a5670;white-space:nowrap}
.count{font-size:.8rem;color:#4a5670}
table.scores{border-collapse:collapse;font-size:.85rem;background:#fff}
table.scores td,table.scores th{border:1px solid #d5d9e0;padding:.15rem .5rem;text-align:right}
table.scores td:first-child,table.scores th:first-child{text-align:left}
.ctx{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;
 background:#fff;border:1px solid #e3e6eb;padding:.3rem .5rem;margin:.2rem 0 .6rem}
mark.fp{background:#ffd6d6}mark.miss{background:#fff1c2}mark.asrt{background:#e6dcff}
mark.near{background:#e0e0e0}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}
"""

_VIEW_JS = """
(function(){
  "use strict";
  console.warn("notestruct: this page contains note text; treat it as patient data.");
  var DATA = JSON.parse(document.getElementById("ns-data").textContent);
  var details = document.getElementById("details");
  function row(t, k, v){ var tr=document.createElement("tr"), a=document.createElement("td"),
    b=document.createElement("td"); a.textContent=k; b.textContent=v; tr.appendChild(a);
    tr.appendChild(b); t.appendChild(tr); }
  function show(v){ if(v===null||v===undefined) return "";
    if(typeof v!=="object") return String(v);
    if(Array.isArray(v)) return v.map(show).join(", ");
    if(v.text!==undefined && v.text!==null) return String(v.text) +
      (v.code ? " ("+v.code+")" : "");
    return Object.keys(v).filter(function(k){return k!=="parts";}).map(function(k){
      return k+"="+show(v[k]);}).join(", "); }
  function describe(n, i){
    var note = DATA.notes[n], m = note.mentions[i];
    details.textContent = "";
    var h = document.createElement("div"); h.className = "dhead";
    h.textContent = m.label + ": " + note.text.slice(m.start, m.end);
    details.appendChild(h);
    var t = document.createElement("table");
    var flags = DATA.flags.filter(function(f){return m[f];});
    row(t, "assertion", flags.length ? flags.join(", ") : "affirmed");
    if(m.section) row(t, "section", m.section);
    (m.codes||[]).forEach(function(c){ row(t, "code", (c.system||"") + " " + c.code +
      (c.display ? " - " + c.display : "")); });
    var attrs = m.attributes || {};
    Object.keys(attrs).forEach(function(k){ if(k!=="parts") row(t, k, show(attrs[k])); });
    row(t, "extractor", m.extractor || "");
    row(t, "rule", m.rule_id || "");
    details.appendChild(t);
  }
  function select(n, i){
    document.querySelectorAll(".sel").forEach(function(e){e.classList.remove("sel");});
    document.querySelectorAll('[data-n="'+n+'"][data-i="'+i+'"]').forEach(function(e){
      e.classList.add("sel");});
    describe(n, i);
  }
  document.addEventListener("click", function(ev){
    var el = ev.target.closest("[data-i]"); if(!el || el.classList.contains("off")) return;
    select(el.dataset.n, el.dataset.i);
    if(el.tagName === "LI"){ var mk = document.querySelector(
      'mark.head[data-n="'+el.dataset.n+'"][data-i="'+el.dataset.i+'"]');
      if(mk) mk.scrollIntoView({block:"center"}); }
  });
  document.addEventListener("mouseover", function(ev){
    var el = ev.target.closest("mark[data-i]");
    if(el && !el.classList.contains("off")) describe(el.dataset.n, el.dataset.i);
  });
  function apply(){
    var labels = {}, asserts = {};
    document.querySelectorAll("input.f-label").forEach(function(c){labels[c.value]=c.checked;});
    document.querySelectorAll("input.f-assert").forEach(function(c){asserts[c.value]=c.checked;});
    var shown = 0;
    document.querySelectorAll("[data-i]").forEach(function(el){
      var flags = el.dataset.flags ? el.dataset.flags.split(" ") : [];
      var ok = labels[el.dataset.label] !== false && (flags.length ?
        flags.every(function(f){return asserts[f] !== false;}) : asserts.affirmed !== false);
      el.classList.toggle("off", !ok);
      if(ok && el.tagName === "MARK" && el.classList.contains("head")) shown++;
    });
    document.getElementById("count").textContent =
      shown + " of " + DATA.total + " mentions shown";
  }
  document.querySelectorAll("input.f-label, input.f-assert").forEach(function(c){
    c.addEventListener("change", apply); });
  apply();
})();
"""


def _page(title: str, body: str, script: str = "", extra_css: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # nothing may be fetched: no network, no inline event handlers
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_CSS}{extra_css}</style></head>"
        f"<body>{body}{script}</body></html>\n"
    )


def render_view(notes: Sequence[ViewNote], title: str = "notestruct note viewer") -> str:
    """The note viewer page for ``notes``."""
    labels = sorted({str(m.get("label")) for n in notes for m in n.mentions})
    label_css = "".join(f".L-{_css_name(lab)}{{background:{label_colour(lab)}}}" for lab in labels)
    total = sum(len(n.mentions) for n in notes)
    label_boxes = "".join(
        f'<label><input type="checkbox" class="f-label" value="{escape(lab)}" checked> '
        f'<span class="lab L-{_css_name(lab)}">{escape(lab)}</span></label>'
        for lab in labels
    )
    assert_boxes = "".join(
        f'<label><input type="checkbox" class="f-assert" value="{f}" checked> {f}</label>'
        for f in ("affirmed", *ASSERTION_FLAGS)
    )
    articles = "".join(
        f'<article class="note" id="note-{k}"><h2>{escape(n.note_id)} '
        f'<span class="count">({len(n.mentions)} mentions)</span></h2>'
        f'<div class="grid"><div class="text">{_note_text_html(k, n)}</div>'
        f"<aside>{_mention_list(k, n)}</aside></div></article>"
        for k, n in enumerate(notes)
    )
    header = (
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="phi" role="alert">{escape(PHI_WARNING)}</p>'
        f'<div class="filters"><fieldset><legend>Label</legend>{label_boxes}</fieldset>'
        f"<fieldset><legend>Assertion</legend>{assert_boxes}</fieldset>"
        f'<span id="count" class="count">{total} mentions</span></div>'
        '<div id="details">Hover or click a mention to see its codes, attributes and '
        "the rule that found it.</div></header>"
    )
    data = {
        "flags": list(ASSERTION_FLAGS),
        "total": total,
        "notes": [
            {"id": n.note_id, "text": n.text, "mentions": [dict(m) for m in n.mentions]}
            for n in notes
        ],
    }
    page = _page(
        title,
        header + f"<main>{articles}</main>",
        _json_script("ns-data", data) + f"<script>{_VIEW_JS}</script>",
        label_css,
    )
    return page


def _context(
    text: str, start: int, end: int, marks: Sequence[tuple[int, int, str]], width: int = 80
) -> str:
    a = max(0, start - width)
    b = min(len(text), end + width)
    html = highlight(text, a, b, [(s, e, f'class="{cls}"', "") for s, e, cls in marks])
    return ("…" if a > 0 else "") + html + ("…" if b < len(text) else "")


def render_errors(
    scores: Any, texts: Mapping[str, str], title: str = "notestruct gold evaluation: errors"
) -> str:
    """The error browser for a :class:`pipelines.gold_eval.GoldScores`."""
    report = scores.to_json()
    rows = []
    for label, per in report["labels"].items():
        ex, ov = per["exact"], per["overlap"]
        rows.append(
            f"<tr><td>{escape(label)}</td><td>{per['n_gold']}</td><td>{per['n_pred']}</td>"
            f"<td>{ex['precision']:.3f}</td><td>{ex['recall']:.3f}</td><td>{ex['f1']:.3f}</td>"
            f"<td>{ov['precision']:.3f}</td><td>{ov['recall']:.3f}</td><td>{ov['f1']:.3f}</td>"
            "</tr>"
        )
    table = (
        '<table class="scores"><tr><th>label</th><th>gold</th><th>predicted</th>'
        "<th>exact P</th><th>exact R</th><th>exact F1</th><th>overlap P</th>"
        f"<th>overlap R</th><th>overlap F1</th></tr>{''.join(rows)}</table>"
    )
    groups: dict[str, dict[str, list[Any]]] = {}
    for e in scores.errors:
        groups.setdefault(e.label, {"false_positive": [], "miss": [], "assertion": []})[
            e.kind
        ].append(e)
    blocks = []
    names = {
        "false_positive": "false positives",
        "miss": "misses",
        "assertion": "assertion disagreements",
    }
    for label in sorted(groups):
        inner = []
        for kind, items in groups[label].items():
            if not items:
                continue
            lis = []
            for e in items:
                text = texts.get(e.note_id, "")
                cls = {"false_positive": "fp", "miss": "miss", "assertion": "asrt"}[kind]
                marks = [(e.start, e.end, f"{cls} err")]
                what = ""
                if kind == "assertion":
                    what = (
                        f"{e.flag}: gold {'yes' if e.gold else 'no'}, "
                        f"predicted {'yes' if e.predicted else 'no'}"
                    )
                elif kind == "miss" and e.near is not None:
                    marks.append((e.near[0], e.near[1], "near"))
                    what = f"predicted {e.near[2]} at {e.near[0]}-{e.near[1]} (grey)"
                lis.append(
                    f'<li class="err-item" data-kind="{kind}"><span class="count">'
                    f"{escape(e.note_id)} {e.start}-{e.end} {escape(what)}</span>"
                    f'<div class="ctx">{_context(text, e.start, e.end, marks)}</div></li>'
                )
            inner.append(
                f'<details open class="k-{kind}"><summary>{len(items)} {names[kind]}</summary>'
                f"<ol>{''.join(lis)}</ol></details>"
            )
        blocks.append(
            f'<section class="label-errors" data-label="{escape(label)}"><h2>{escape(label)}'
            f"</h2>{''.join(inner)}</section>"
        )
    problems = "".join(f"<li>{escape(p)}</li>" for p in report["problems"])
    body = (
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="phi" role="alert">{escape(PHI_WARNING)}</p></header><main>{table}'
        + (
            f"<details><summary>{len(report['problems'])} gold problems</summary>"
            f"<ul>{problems}</ul></details>"
            if problems
            else ""
        )
        + ("".join(blocks) or "<p>No errors.</p>")
        + "</main>"
    )
    script = (
        '<script>console.warn("notestruct: this page contains note text; treat it as '
        'patient data.");</script>'
    )
    return _page(title, body, script)
