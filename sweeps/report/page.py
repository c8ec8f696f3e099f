"""The report's HTML page: one self-contained file, its figures embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
from typing import Any

from sweeps.report.analysis import grid, pruning
from sweeps.report.data import Sweep, describe, fmt, is_finite
from sweeps.report.figures import REASON_STYLE
from sweeps.results import time_budget_lines

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f3f3f3}
td.best{background:#ffd9d2;font-weight:bold} img{max-width:100%} .muted{color:#777}
code{background:#f3f3f3;padding:1px 4px}
"""


def page(
    sweep: Sweep,
    images: dict[str, bytes],
    best_json: dict[str, Any] | None,
    importance: dict[str, float],
    readings: list[dict[str, Any]],
    manifest: dict[str, Any] | None = None,
    location: str = "",
) -> str:
    p, g = pruning(sweep), grid(sweep, importance)
    parts = [
        f"<h1>Sweep {html.escape(sweep.name)}</h1>",
        f"<p class=muted>{len(sweep.trials)} trials, space <code>{html.escape(sweep.cfg.space)}"
        f"</code>, dataset <code>{html.escape(sweep.cfg.dataset)}</code>, up to "
        f"{sweep.cfg.max_epochs} epochs, seed {sweep.cfg.seed}.</p>",
        _best_section(sweep, best_json),
        _readings_section(readings),
        _manifest_section(sweep, manifest, location or sweep.name),
        "<h2>Validation loss of every trial</h2>",
        _img(images["curves"], "validation loss curves"),
        "<h2>Best trial: where it starts to overfit</h2>",
        "<p>Training loss keeps falling; once validation loss stops falling and rises, the model "
        "is fitting noise in the training split. The weights kept are those of the best epoch."
        "</p>",
        _img(images["best"], "best trial training and validation loss"),
        "<h2>Which choices mattered</h2>",
        _img(images["parallel"], "parallel coordinates"),
        _img(images["importance"], "hyperparameter importances"),
        "<p class=muted>Importances from Optuna's fANOVA over the best val_loss of every "
        "finished trial (pruned ones with the best value they reached); hyperparameters that "
        "only some trials have, such as momentum, are left out.</p>",
        _grid_heading(g["names"]),
        _grid_table(g),
        "<h2>Pruning</h2>",
        _pruning_table(p),
        f"<p>Trained {p['trained']} epochs out of {p['budget']} for every trial to reach "
        f"epoch {sweep.cfg.max_epochs}: pruning saved <b>{p['saved']} epochs "
        f"({p['saved'] / p['budget']:.0%})</b>.</p>",
        "<h2>All trials</h2>",
        _trials_table(sweep),
    ]
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>Sweep {html.escape(sweep.name)}"
        f"</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _best_section(sweep: Sweep, best_json: dict[str, Any] | None) -> str:
    best = sweep.best
    if best is None:
        return "<p>No trial reached a finite validation loss.</p>"
    lines = [
        f"<p><b>Best trial {best['trial_index']}</b> ({best['trial_id']}): "
        f"{html.escape(describe(best, sweep.params))}<br>best epoch {best['best_epoch']}, "
        f"val_loss {best['best_val_loss']:.4f}"
    ]
    named = best_json and best_json.get("trial_index") == best["trial_index"]
    if named and "confirmation" in best_json:
        lines.append(_confirmation(best_json))
    if best_json and "audit" in best_json:
        lines.append(_audit(best_json["audit"]))
    for line in time_budget_lines(best_json and best_json.get("time_budget")):
        lines.append(f"<br>{html.escape(line)}")
    if named and "test_refused" in best_json:
        lines.append(f"<br>test split not read: {html.escape(best_json['test_refused'])}")
    elif named:
        lines.append(
            f"<br>test split (evaluated once, after the sweep): loss "
            f"{best_json['test_loss']:.4f}, accuracy {best_json['test_acc']:.4f}"
        )
    else:
        lines.append("<br><span class=muted>not tested: the sweep has not finished</span>")
    return "".join(lines) + "</p>"


def _confirmation(best_json: dict[str, Any]) -> str:
    """The confirmed configurations, best mean first, each run's best val_loss and the 95%
    interval of their mean; and whether the search's own winner held up."""
    rows = []
    for row in best_json["confirmation"]:
        runs = ", ".join(_loss(run["best_val_loss"]) for run in row["runs"])
        low, high = row["ci95"]
        css = " class=best" if row["trial_index"] == best_json["trial_index"] else ""
        rows.append(
            f"<tr{css}><td>{row['trial_index']}</td><td>{_loss(row['search_val_loss'])}</td>"
            f"<td>{runs}</td><td>{_loss(row['mean'])}</td>"
            f"<td>{_loss(low)} to {_loss(high)}</td></tr>"
        )
    held = (
        "The search's best configuration held up."
        if best_json["search_winner_held"]
        else f"The search's best, trial {best_json['search_winner']}, did not hold up over "
        "fresh seeds: it was one lucky draw."
    )
    head = (
        "<tr><th>trial</th><th>search best val_loss</th><th>runs with fresh seeds</th>"
        "<th>mean</th><th>95% interval</th></tr>"
    )
    return (
        f"<br>confirmed: the best configurations trained again from scratch, "
        f"{len(best_json['confirmation'][0]['runs'])} fresh seeds each; the best mean wins. "
        f"{held} Tested: run {best_json['replicate']} of the winner, the one validation "
        f"picked.</p><table>{head}{''.join(rows)}</table><p>"
    )


def _audit(found: dict[str, Any]) -> str:
    """The pruner audit: the sampled pruned trials continued to the full budget."""
    rows = "".join(
        f"<tr{' class=best' if row['beats_winner'] else ''}><td>{row['trial_index']}</td>"
        f"<td>{row['pruned_at']}</td><td>{_loss(row['pruned_val_loss'])}</td>"
        f"<td>{_loss(row['full_val_loss'])}</td></tr>"
        for row in found["audited"]
    )
    head = (
        "<tr><th>trial</th><th>pruned after epoch</th><th>best val_loss then</th>"
        "<th>at the full budget</th></tr>"
    )
    return (
        f"<br>pruner audit: {len(found['audited'])} of the {found['pruned']} trials ASHA pruned "
        f"({found['fraction']:.0%}, drawn with the sweep's seed) continued to the full budget; "
        f"<b>{found['would_have_won']}</b> would have beaten the search's best val_loss "
        f"{_loss(found['winner_val_loss'])}.</p><table>{head}{rows}</table><p>"
    )


def _loss(value: float | None) -> str:
    return "&mdash;" if value is None else f"{value:.4f}"


def _readings_section(readings: list[dict[str, Any]]) -> str:
    """Every reading of the test split: one for a sweep that kept to the rule."""
    if not readings:
        return ""
    note = (
        "read once, for the model validation picked"
        if len(readings) == 1
        else f"read {len(readings)} times: only the first figure is an unbiased estimate"
    )
    rows = "".join(
        f"<tr><td>{html.escape(r['at'])}</td><td>{r['trial_index']}</td>"
        f"<td>{html.escape(r['allowed_by'])}</td><td>{r['test_loss']:.4f}</td>"
        f"<td>{r['test_acc']:.4f}</td><td><code>{r['test_rows_sha256'][:12]}</code></td>"
        f"<td><code>{html.escape(r['checkpoint'])}</code></td></tr>"
        for r in readings
    )
    head = (
        "<tr><th>when (UTC)</th><th>trial</th><th>allowed by</th><th>test loss</th>"
        "<th>test accuracy</th><th>test rows (SHA-256)</th><th>checkpoint</th></tr>"
    )
    return (
        f"<h3>Test split readings</h3><p>The test split was {note}.</p><table>{head}{rows}</table>"
    )


def _manifest_section(sweep: Sweep, manifest: dict[str, Any] | None, location: str) -> str:
    """What the results depend on (manifest.json), and the command that replays a trial of
    the sweep at ``location``."""
    if manifest is None:
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in sorted(manifest["versions"].items()) if v)
    data = manifest["data"]
    best = sweep.best
    trial = best["trial_index"] if best else 0
    return (
        "<h3>Reproducing it</h3><p><code>manifest.json</code> records what these results "
        f"depend on: {html.escape(versions)}; data <code>{data['data_sha256'][:12]}</code>, "
        f"split <code>{data['split_sha256'][:12]}</code>; the sweep seed "
        f"{manifest['seeds']['sweep']} and every trial's; every epoch's decision. "
        f"<code>python -m sweeps.replay {html.escape(location)} {trial}</code> trains trial "
        f"{trial} again on the CPU and compares each epoch's val_loss, bit for bit.</p>"
    )


def _grid_heading(names: list[str]) -> str:
    by = " &times; ".join(map(html.escape, names)) or "categorical hyperparameter"
    return f"<h3>Best val_loss by {by}</h3>"


def _grid_table(g: dict[str, Any]) -> str:
    if not g["names"]:
        return "<p class=muted>no categorical hyperparameter to tabulate</p>"
    if not g["cells"]:
        return "<p class=muted>no finite results</p>"
    lowest = min(g["cells"].values())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in g["columns"])
    rows = []
    for r in g["rows"]:
        cells = []
        for c in g["columns"]:
            value = g["cells"].get((r, c))
            css = " class=best" if value == lowest else ""
            cells.append(f"<td{css}>{'&mdash;' if value is None else f'{value:.4f}'}</td>")
        rows.append(f"<tr><th>{html.escape(str(r))}</th>{''.join(cells)}</tr>")
    corner = " \\ ".join(map(html.escape, g["names"]))
    return f"<table><tr><th>{corner}</th>{head}</tr>{''.join(rows)}</table>"


def _pruning_table(p: dict[str, Any]) -> str:
    rows = [
        f"<tr><td>ASHA rung at epoch {rung}</td><td>{count}</td></tr>"
        for rung, count in sorted(p["by_rung"].items())
    ]
    for reason in ("stalled", "diverged", "budget", "error", "interrupted", "completed"):
        if reason in p["reasons"]:
            rows.append(
                f"<tr><td>{REASON_STYLE[reason][1]}</td><td>{p['reasons'][reason]}</td></tr>"
            )
    return f"<table><tr><th>ended at</th><th>trials</th></tr>{''.join(rows)}</table>"


def _trials_table(sweep: Sweep) -> str:
    columns = ["trial_index", *sweep.params, "stop_reason", "epochs", "best_epoch",
               "best_val_loss"]  # fmt: skip
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    ordered = sorted(sweep.trials, key=lambda t: (not is_finite(t["best_val_loss"]),
                                                  t["best_val_loss"] or 0))  # fmt: skip
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(fmt(t.get(c, '')))}</td>" for c in columns) + "</tr>"
        for t in ordered
    ]
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"
