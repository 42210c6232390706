"""The self-contained HTML verification report (Matplotlib plots embedded as PNG data URIs).

Sections: chain verification result and hashes, metrics table, and five plots: episodes over
time, closest approach against S_p, stops per operating hour, reaction-latency distribution,
per-zone episode counts. The page loads nothing from outside itself.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from safetymon.evidence.canonical import file_sha256
from safetymon.evidence.metrics import EpisodeArrays, Metrics, collect
from safetymon.evidence.reader import open_readonly
from safetymon.evidence.snapshots import write_atomic
from safetymon.evidence.verify import VerifyResult, verify_store
from safetymon.version import software_version

_MAX_SCATTER = 20_000
_CSS = """
body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}
h1{margin-bottom:0}.ok{color:#0a7a0a}.bad{color:#b00020}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:left}code{font-size:90%;word-break:break-all}img{max-width:100%;margin:1em 0}
.note{color:#555;font-size:90%}
"""


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")


def plots(metrics: Metrics, arrays: EpisodeArrays) -> dict[str, str]:
    """Title → base64 PNG of each plot."""
    plt = _plt()
    out: dict[str, str] = {}
    hours = (arrays.start_s - arrays.start_s.min()) / 3600.0 if arrays.start_s.size else None

    fig, ax = plt.subplots(figsize=(10, 3.2))
    if hours is not None:
        bins = max(1, min(200, int(np.ceil(hours.max())) + 1))
        stop = arrays.is_stop > 0
        ax.hist([hours[~stop], hours[stop]], bins=bins, stacked=True,
                label=["near-miss (no STOP)", "STOP"], color=["#f0a030", "#c03030"])  # fmt: skip
        ax.legend()
    else:
        _empty(ax, "no episodes")
    ax.set_xlabel("hours since first episode")
    ax.set_ylabel("episodes")
    out["Episodes over time"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    good = np.isfinite(arrays.min_distance_m) & np.isfinite(arrays.protective_m)
    if good.any():
        index = np.flatnonzero(good)
        index = index[:: max(1, index.size // _MAX_SCATTER)]
        d, sp = arrays.min_distance_m[index], arrays.protective_m[index]
        ax.scatter(sp, d, s=6, alpha=0.5, c=np.where(d < sp, "#c03030", "#3060c0"))
        top = float(max(d.max(), sp.max())) * 1.05
        ax.plot([0, top], [0, top], "k--", lw=1, label="d = S_p")
        ax.legend()
    else:
        _empty(ax, "no closest approaches")
    ax.set_xlabel("S_p at closest approach (m)")
    ax.set_ylabel("closest distance d (m)")
    out["Closest approach against S_p"] = _png(fig)

    fig, ax = plt.subplots(figsize=(10, 3.2))
    if hours is not None and (arrays.is_stop > 0).any():
        start_hours = hours[arrays.is_stop > 0]
        edges = np.arange(0.0, float(np.ceil(start_hours.max())) + 1.0)
        counts, _ = np.histogram(start_hours, bins=edges if edges.size > 1 else 1)
        ax.bar(edges[: counts.size], counts, width=0.9, align="edge", color="#c03030")
        per_hour = (
            (metrics.protective_stops + metrics.input_fault_stops + metrics.other_stops)
            / metrics.operating_hours
            if metrics.operating_hours > 0
            else None
        )
        if per_hour is not None:
            ax.axhline(per_hour, color="k", ls="--", lw=1, label=f"mean {per_hour:.2f}/h")
            ax.legend()
    else:
        _empty(ax, "no stops")
    ax.set_xlabel("hour since first episode")
    ax.set_ylabel("stops in that hour")
    out["Stops per operating hour"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    latency = arrays.latency_s[np.isfinite(arrays.latency_s)] * 1000.0
    if latency.size:
        ax.hist(latency, bins=50, color="#3060c0")
        for value, name in ((metrics.latency_p50_s, "p50"), (metrics.latency_p99_s, "p99")):
            if value is not None:
                ax.axvline(value * 1000.0, color="k", ls="--", lw=1)
                ax.text(value * 1000.0, ax.get_ylim()[1] * 0.9, f" {name}")
    else:
        _empty(ax, "no latencies")
    ax.set_xlabel("reaction latency (ms)")
    ax.set_ylabel("episodes")
    out["Reaction latency"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if metrics.zone_counts:
        names, counts = zip(*sorted(metrics.zone_counts.items()), strict=True)
        ax.barh(names, counts, color="#30a070")
    else:
        _empty(ax, "no zone episodes")
    ax.set_xlabel("episodes")
    out["Episodes per zone"] = _png(fig)
    return out


def _fmt(value: float | None, unit: str = "", scale: float = 1.0, digits: int = 3) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}{unit}"


def metrics_rows(metrics: Metrics) -> list[tuple[str, str]]:
    """(name, formatted value) rows of the metrics table."""
    closest = _fmt(metrics.closest_approach_m, " m")
    if metrics.closest_approach_sp_m is not None:
        closest += f" (S_p {metrics.closest_approach_sp_m:.3f} m)"
    return [
        ("Monitor runs", str(metrics.runs)),
        ("Operating hours", _fmt(metrics.operating_hours, " h", digits=2)),
        ("Episodes", str(metrics.episodes)),
        ("Near-misses", str(metrics.near_misses)),
        ("Near-misses per operating hour", _fmt(metrics.near_misses_per_hour, "/h", digits=2)),
        ("Protective stops", str(metrics.protective_stops)),
        ("Input-fault stops", str(metrics.input_fault_stops)),
        ("Other stops", str(metrics.other_stops)),
        ("Closest approach", closest),
        ("Reaction latency p50", _fmt(metrics.latency_p50_s, " ms", 1000.0, 1)),
        ("Reaction latency p99", _fmt(metrics.latency_p99_s, " ms", 1000.0, 1)),
        ("Availability", _fmt(metrics.availability, " %", 100.0, 2)),
    ]


def render_html(
    db_path: Path, result: VerifyResult, metrics: Metrics, images: dict[str, str]
) -> str:
    """The report page."""
    esc = html.escape
    status = (
        '<p class="ok"><b>Chain verified: OK</b></p>'
        if result.ok
        else f'<p class="bad"><b>Chain verification FAILED</b>: {esc(str(result.problem))}</p>'
    )
    hashes = [
        ("Database file", str(db_path)),
        ("Database file SHA-256 (at report time)", file_sha256(db_path)),
        ("Store id", result.store_id or "–"),
        ("Records verified", str(result.records)),
        ("Snapshots verified", str(result.snapshots_checked)),
        ("First record hash", result.first_hash or "–"),
        ("Head", f"#{result.head_seq} {result.head_hash}"),
        ("Time span", f"{result.first_time_utc or '–'} .. {result.last_time_utc or '–'}"),
    ]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>safetymon evidence report</title><style>{_CSS}</style></head><body>",
        "<h1>safetymon evidence report</h1>",
        f"<p class='note'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC by "
        f"safetymon {esc(software_version())}. safetymon is not a certified safety device; these "
        "figures come from its own records.</p>",
        "<h2>Verification</h2>",
        status,
        "<table>",
        *(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in hashes),
        "</table>",
        "<p class='note'>The hash chain shows that no record was edited, removed or moved "
        "since it was written, but someone with write access could rebuild the whole chain: "
        "compare the head hash with a copy kept elsewhere.</p>",
        "<h2>Sites and configurations</h2><table>",
        "<tr><th>Site</th><th>Config SHA-256</th><th>Software</th><th>Runs</th></tr>",
        *(
            f"<tr><td>{esc(site)}</td><td><code>{esc(digest)}</code></td>"
            f"<td>{esc(version)}</td><td>{count}</td></tr>"
            for (site, digest, version), count in sorted(metrics.configurations.items())
        ),
        "</table>",
        "<h2>Metrics</h2><table>",
        *(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in metrics_rows(metrics)),
        "</table>",
    ]
    for title, data in images.items():
        parts.append(
            f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    db_path: str | Path,
    out: str | Path,
    *,
    since: str | None = None,
    until: str | None = None,
    expect_head: str | None = None,
) -> VerifyResult:
    """Verify the store, compute metrics, write the HTML report atomically; returns the
    verification result (the report is written even when verification fails)."""
    db_path = Path(db_path)
    result = verify_store(db_path, expect_head=expect_head)
    conn = open_readonly(db_path)
    try:
        metrics, arrays = collect(conn, since=since, until=until)
    finally:
        conn.close()
    page = render_html(db_path, result, metrics, plots(metrics, arrays))
    write_atomic(Path(out), page.encode("utf-8"))
    return result
