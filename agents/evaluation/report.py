"""`write_report`: one self-contained HTML file for one run, a suite, or several runs compared.

The file needs no server and no network: CSS, the filter script and the plots (SVG) are inline.
It holds, per run: the summary table (every metric with its 95% CI, the verdict counts, where the
data came from), the pass@k curve (k = 1..n with its CI band), the per-task outcomes (one cell
per task, coloured by its share of correct samples), and every sample as a conversation: the
messages in order, each assistant tool call and each tool result folded in a ``<details>``, the
verdict, the reward and its terms beside it. A status filter (correct, incorrect, no answer,
timeout, error) and a run filter show a subset of the trajectories; ``report.html#status=incorrect``
(statuses joined by commas) opens the report filtered.

All text from the logs (model output, tool results, prompts) is HTML-escaped: a trajectory cannot
inject markup or script into the report. Large runs make large files (every trajectory is in
it); ``max_trajectories`` caps how many are written per run (the rest are counted, not shown).
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.agents.evaluation.metrics import Estimate, mean_ci, pass_at_k
from assay.agents.evaluation.records import Log
from assay.agents.evaluation.summary import Summary, summarize, task_results

__all__ = ["RunView", "render_report", "write_report"]

STATUSES = ("correct", "incorrect", "no_answer", "timeout", "error")


@dataclass(frozen=True)
class RunView:
    """One run as the report shows it."""

    label: str
    summary: Summary
    samples: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    """The provenance of the env's data (`assay.envs.provenance.data_provenance`)."""
    weight: float = 1.0
    source: str = ""
    """The log file."""

    @classmethod
    def from_log(
        cls,
        log: Log,
        *,
        label: str = "",
        summary: Summary | None = None,
        weight: float = 1.0,
        source: str = "",
        ks: Sequence[int] | None = None,
    ) -> RunView:
        """A view of a parsed log (its summary recomputed from the records unless given)."""
        n = int(log.config.get("n", 1))
        if summary is None:
            bounds = log.meta.get("reward_bounds")
            summary = summarize(
                log.samples,
                n=n,
                ks=ks or sorted({1, n}),
                config=log.config,
                reward_bounds=None if bounds is None else (float(bounds[0]), float(bounds[1])),
            )
        return cls(
            label=label or str(log.config.get("env", "run")),
            summary=summary,
            samples=list(log.samples),
            config=dict(log.config),
            data=dict(log.meta.get("data") or {}),
            weight=weight,
            source=source,
        )


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(e: Estimate) -> str:
    if e.size == 0 or math.isnan(e.mean):
        return "-"
    if e.low == e.high:
        return f"{e.mean:.3f}"
    return f"{e.mean:.3f} <span class=ci>[{e.low:.3f}, {e.high:.3f}]</span>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d2a3a;color:#fff;padding:14px 24px}header h1{margin:0;font-size:19px}
header p{margin:4px 0 0;color:#b9c6d6;font-size:12px}
main{padding:16px 24px;max-width:1280px}
h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}thead th{background:#eef1f4}
.ci{color:#6a7785;font-size:11px}.data{font-size:11px;color:#4a5663;text-align:left;max-width:360px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0;background:#fff;border:1px solid #d8dde3;padding:6px}
figcaption{font-size:12px;color:#4a5663}
.grid{display:flex;flex-wrap:wrap;gap:2px;margin:4px 0 12px}
.cell{width:14px;height:14px;border-radius:2px;display:inline-block}
.filters{position:sticky;top:0;background:#f6f7f9;padding:8px 0;z-index:2;display:flex;gap:12px;flex-wrap:wrap;align-items:center}
.filters label{font-size:13px}
details.traj{background:#fff;border:1px solid #d8dde3;border-left:5px solid #999;margin:6px 0;border-radius:4px}
details.traj>summary{cursor:pointer;padding:6px 10px;font-size:13px}
details.traj[data-status=correct]{border-left-color:#2e9d5b}details.traj[data-status=incorrect]{border-left-color:#d04a3a}
details.traj[data-status=no_answer]{border-left-color:#d9a21b}details.traj[data-status=error],details.traj[data-status=timeout]{border-left-color:#7b4bc4}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;color:#fff;background:#999}
.badge.correct{background:#2e9d5b}.badge.incorrect{background:#d04a3a}.badge.no_answer{background:#d9a21b}
.badge.error,.badge.timeout{background:#7b4bc4}
.body{display:flex;gap:12px;padding:8px 10px;border-top:1px solid #eef1f4}
.conv{flex:3;min-width:0}.side{flex:1;min-width:220px;font-size:12px;background:#f9fafb;border:1px solid #eef1f4;padding:6px 8px;align-self:flex-start}
.msg{margin:4px 0;padding:6px 8px;border-radius:4px;white-space:pre-wrap;word-break:break-word}
.msg .role{font-weight:600;font-size:11px;text-transform:uppercase;color:#4a5663;display:block}
.system{background:#f1f1f4}.user{background:#eaf2fb}.assistant{background:#eef8f0}.tool{background:#fbf5e6}
details.call,details.result{margin:4px 0;background:#fff;border:1px dashed #c9d1da;border-radius:4px;padding:2px 6px}
details.call>summary,details.result>summary{cursor:pointer;font-family:ui-monospace,Menlo,monospace;font-size:12px}
pre{margin:4px 0;white-space:pre-wrap;word-break:break-word;font:12px ui-monospace,Menlo,monospace}
.side dt{font-weight:600;margin-top:4px}.side dd{margin:0 0 0 8px}
.more{color:#6a7785;font-size:12px}
"""

_JS = """
function applyFilters(){
  var st={};document.querySelectorAll('input[data-filter=status]').forEach(function(c){st[c.value]=c.checked});
  var run=document.getElementById('run-filter');var r=run?run.value:'';
  var shown=0;
  document.querySelectorAll('details.traj').forEach(function(d){
    var ok=(st[d.dataset.status]!==false)&&(!r||d.dataset.run===r);
    d.style.display=ok?'':'none';if(ok)shown++;
  });
  var c=document.getElementById('shown');if(c)c.textContent=shown;
}
document.addEventListener('change',function(e){if(e.target.closest('.filters'))applyFilters()});
document.addEventListener('DOMContentLoaded',function(){
  var m=/status=([a-z_,]+)/.exec(location.hash);
  if(m){var want=m[1].split(',');document.querySelectorAll('input[data-filter=status]').forEach(function(c){c.checked=want.indexOf(c.value)>=0})}
  applyFilters();
});
"""


def _svg_pass_at_k(views: Sequence[RunView]) -> str:
    """pass@k for k = 1..n of every run, with the 95% CI band, as an inline SVG."""
    w, h, left, bottom, top, right = 420, 260, 44, 34, 12, 12
    colors = ("#2f6fb3", "#d0573a", "#2e9d5b", "#8a4fc4", "#c49a1b", "#3aa6b9")
    max_n = max((v.summary.n for v in views), default=1)
    lx = math.log2(max_n) if max_n > 1 else 1.0

    def x(k: int) -> float:
        return left + (w - left - right) * ((math.log2(k) / lx) if max_n > 1 else 0.5)

    def y(p: float) -> float:
        return top + (h - top - bottom) * (1 - p)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="pass@k">'
    ]
    for p in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#e3e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y(p) + 4:.1f}" font-size="10" text-anchor="end">{p:g}</text>')
    ks = sorted({1, max_n, *[2**i for i in range(int(lx) + 1) if 2**i <= max_n]})
    for k in ks:
        parts.append(
            f'<text x="{x(k):.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="middle">{k}</text>'
        )
    parts.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 4}" font-size="11" text-anchor="middle">k</text>'
    )
    for i, v in enumerate(views):
        color = colors[i % len(colors)]
        tasks, _ = task_results(v.samples, v.summary.n)
        if not tasks:
            continue
        est = [
            (k, mean_ci([pass_at_k(v.summary.n, sum(t.correct), k) for t in tasks], (0, 1)))
            for k in range(1, v.summary.n + 1)
        ]
        band = [f"{x(k):.1f},{y(e.high):.1f}" for k, e in est] + [
            f"{x(k):.1f},{y(e.low):.1f}" for k, e in reversed(est)
        ]
        parts.append(f'<polygon points="{" ".join(band)}" fill="{color}" fill-opacity="0.18" stroke="none"/>')
        line = " ".join(f"{x(k):.1f},{y(e.mean):.1f}" for k, e in est)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        for k, e in est:
            parts.append(
                f'<circle cx="{x(k):.1f}" cy="{y(e.mean):.1f}" r="2.5" fill="{color}">'
                f"<title>{_e(v.label)} pass@{k} = {e.mean:.3f}</title></circle>"
            )
        parts.append(
            f'<text x="{left + 8}" y="{top + 12 + 13 * i}" font-size="11" fill="{color}">{_e(v.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _summary_table(views: Sequence[RunView], combined: Mapping[str, Estimate] | None) -> str:
    names: list[str] = []
    for v in views:
        names += [m for m in v.summary.metrics if m not in names]
    head = "".join(f"<th>{_e(m)}</th>" for m in names)
    rows = []
    for v in views:
        cells = "".join(
            f"<td>{_fmt(v.summary.metrics[m])}</td>" if m in v.summary.metrics else "<td>-</td>"
            for m in names
        )
        status = ", ".join(f"{_e(k)}={c}" for k, c in v.summary.status.items())
        data = _e(v.data.get("label", "")) if v.data else ""
        rows.append(
            f"<tr><td>{_e(v.label)}<br><span class=ci>{_e(v.config.get('model', ''))}</span></td>{cells}"
            f"<td>{v.summary.num_tasks} × {v.summary.n}</td><td>{status}</td><td class=data>{data}</td></tr>"
        )
    if combined:
        cells = "".join(f"<td>{_fmt(combined[m])}</td>" if m in combined else "<td>-</td>" for m in names)
        rows.append(
            f"<tr class=combined><td><b>combined</b> (weighted)</td>{cells}<td></td><td></td><td></td></tr>"
        )
    return (
        f'<table id="summary"><thead><tr><th>run</th>{head}<th>tasks × n</th><th>verdicts</th>'
        f"<th>data</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _task_grid(v: RunView) -> str:
    tasks, _ = task_results(v.samples, v.summary.n)
    cells = []
    for t in tasks:
        share = sum(t.correct) / max(t.n, 1)
        hue = int(120 * share)
        cells.append(
            f'<span class=cell style="background:hsl({hue},55%,48%)" '
            f'title="{_e(t.task_id)}: {sum(t.correct)}/{t.n} correct, mean reward {sum(t.rewards) / max(t.n, 1):.3f}"></span>'
        )
    return f"<div class=grid>{''.join(cells)}</div>"


def _pretty_args(raw: Any) -> str:
    if isinstance(raw, str):
        try:
            return json.dumps(json.loads(raw), indent=1, ensure_ascii=False)
        except ValueError:
            return raw
    return json.dumps(raw, indent=1, ensure_ascii=False, default=str)


def _message(m: Mapping[str, Any]) -> str:
    role = str(m.get("role", ""))
    content = m.get("content")
    text = "" if content is None else str(content)
    if role == "tool":
        name = _e(m.get("name", ""))
        return (
            f'<details class="result"><summary>result of {name} ({len(text)} chars)</summary>'
            f"<pre>{_e(text)}</pre></details>"
        )
    calls = "".join(
        f'<details class="call"><summary>tool call: {_e((c.get("function") or {}).get("name", ""))}</summary>'
        f"<pre>{_e(_pretty_args((c.get('function') or {}).get('arguments')))}</pre></details>"
        for c in m.get("tool_calls") or []
    )
    return f'<div class="msg {_e(role)}"><span class=role>{_e(role)}</span>{_e(text)}{calls}</div>'


def _trajectory(run: int, v: RunView, r: Mapping[str, Any], *, open_: bool = False) -> str:
    verdict = r.get("verdict") or {}
    status = str(verdict.get("status", ""))
    messages = r.get("messages")
    if not messages:  # a single-turn record: prompt and completion
        messages = [
            {"role": "user", "content": r.get("prompt", "")},
            {"role": "assistant", "content": r.get("completion", "")},
        ]
    terms = "".join(f"<dd>{_e(k)}: {float(x):.3f}</dd>" for k, x in (r.get("reward_terms") or {}).items())
    tokens = r.get("num_tokens", 0)
    side = (
        f"<dl><dt>verdict</dt><dd><span class='badge {_e(status)}'>{_e(status)}</span></dd>"
        f"<dt>extracted</dt><dd>{_e(verdict.get('extracted'))}</dd>"
        f"<dt>reference</dt><dd>{_e(r.get('answer'))}</dd>"
        + (
            f"<dt>reason</dt><dd>{_e(verdict.get('reason') or verdict.get('detail') or '')}</dd>"
            if (verdict.get("reason") or verdict.get("detail"))
            else ""
        )
        + f"<dt>reward</dt><dd>{float(r.get('reward', 0.0)):.3f}</dd><dt>reward terms</dt>{terms or '<dd>-</dd>'}"
        f"<dt>turns</dt><dd>{_e(r.get('num_turns', 1))}</dd><dt>tokens</dt><dd>{_e(tokens)} generated"
        f"{', ' + _e(r.get('prompt_tokens')) + ' prompt' if r.get('prompt_tokens') else ''}</dd>"
        + ("<dt>truncated</dt><dd>yes</dd>" if r.get("truncated") else "")
        + "</dl>"
    )
    conv = "".join(_message(m) for m in messages)
    if open_:  # show the first call and its result unfolded too
        conv = conv.replace('<details class="call">', '<details class="call" open>', 1)
        conv = conv.replace('<details class="result">', '<details class="result" open>', 1)
    calls = sum(len(m.get("tool_calls") or []) for m in messages)
    return (
        f'<details class="traj" data-status="{_e(status)}" data-run="{run}"{" open" if open_ else ""}>'
        f"<summary><span class='badge {_e(status)}'>{_e(status)}</span> {_e(v.label)} · {_e(r.get('task_id'))} "
        f"· sample {_e(r.get('sample_index'))} · reward {float(r.get('reward', 0.0)):.3f}"
        f"{f' · {calls} tool calls' if calls else ''}</summary>"
        f'<div class="body"><div class="conv">{conv}</div><div class="side">{side}</div></div></details>'
    )


def render_report(
    views: Sequence[RunView],
    *,
    title: str = "assay eval",
    combined: Mapping[str, Estimate] | None = None,
    max_trajectories: int | None = 2_000,
) -> str:
    """The report's HTML (see the module docstring)."""
    if not views:
        raise ValueError("a report needs at least one run")
    counts: Counter[str] = Counter()
    for v in views:
        counts.update(str((r.get("verdict") or {}).get("status", "")) for r in v.samples)
    boxes = "".join(
        f'<label><input type="checkbox" data-filter="status" value="{s}" checked> {s.replace("_", " ")} '
        f"({counts.get(s, 0)})</label>"
        for s in STATUSES
    )
    runs = ""
    if len(views) > 1:
        options = "".join(f'<option value="{i}">{_e(v.label)}</option>' for i, v in enumerate(views))
        runs = f'<label>run <select id="run-filter"><option value="">all</option>{options}</select></label>'
    grids = "".join(
        f"<h3 style='font-size:13px;margin:8px 0 2px'>{_e(v.label)}</h3>{_task_grid(v)}" for v in views
    )
    trajs: list[str] = []
    hidden = 0
    opened = False  # the first trajectory with a tool call starts unfolded
    for i, v in enumerate(views):
        ordered = sorted(v.samples, key=lambda r: (int(r["task_index"]), int(r["sample_index"])))
        keep = ordered if max_trajectories is None else ordered[:max_trajectories]
        hidden += len(ordered) - len(keep)
        for r in keep:
            first = not opened and any(m.get("tool_calls") for m in r.get("messages") or [])
            opened = opened or first
            trajs.append(_trajectory(i, v, r, open_=first))
    more = f"<p class=more>{hidden} more trajectories are in the logs, not shown here.</p>" if hidden else ""
    sources = ", ".join(_e(v.source) for v in views if v.source)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style><script>{_JS}</script></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{len(views)} run(s) · logs: {sources or '-'}</p></header><main>"
        f"<h2>Summary</h2>{_summary_table(views, combined)}"
        f"<h2>pass@k</h2><div class=plots><figure>{_svg_pass_at_k(views)}"
        "<figcaption>pass@k (unbiased estimator) with its 95% CI over tasks</figcaption></figure></div>"
        f"<h2>Per-task outcomes</h2><p class=more>One cell per task: green all samples correct, red none "
        f"(hover for the task).</p>{grids}"
        f'<h2>Trajectories</h2><div class="filters">{boxes}{runs}<span class=more>showing '
        f'<span id="shown">{len(trajs)}</span></span></div>{"".join(trajs)}{more}'
        "</main></body></html>"
    )


def write_report(
    views: Sequence[RunView],
    path: str | Path,
    *,
    title: str = "assay eval",
    combined: Mapping[str, Estimate] | None = None,
    max_trajectories: int | None = 2_000,
) -> Path:
    """Write `render_report`'s HTML to ``path`` (UTF-8); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        render_report(views, title=title, combined=combined, max_trajectories=max_trajectories),
        encoding="utf-8",
    )
    return path
