"""Rendering of a ``PlanReport``: one self-contained HTML page, a CSV table and a JSON document.

The three carry the same figures: one row per (scenario, criterion, site, robot) with the
measured value, unit, comparison, threshold, verdict, detail, sample count and the deciding
records (``store:seq``). The HTML adds the chain and signature status of each store, links
from each deciding record to its episode's section (anchor ``ep-<store>-<seq>``), the
episodes' snapshots as embedded JPEGs, and the plain report's plots per scenario. Nothing is
loaded from outside the page.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from safetymon.evidence.criteria import CriterionResult
from safetymon.evidence.facts import EpisodeFact
from safetymon.evidence.plan_report import PlanReport
from safetymon.evidence.report import plots
from safetymon.version import software_version

MAX_LINKS = 20
"""Deciding records linked per table row (the JSON and CSV list all of them)."""
CSV_COLUMNS = (
    "scenario",
    "criterion",
    "site",
    "robot",
    "measured",
    "unit",
    "comparison",
    "threshold",
    "verdict",
    "samples",
    "detail",
    "deciding",
)
_CSS = """
body{font-family:sans-serif;margin:2em;color:#222;max-width:1300px}
.pass{color:#0a7a0a;font-weight:bold}.fail{color:#b00020;font-weight:bold}
.undecided{color:#a06000;font-weight:bold}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}code{font-size:90%;word-break:break-all}
img{max-width:100%;margin:.5em 0}.snap{max-width:480px;margin-right:1em}
.note{color:#555;font-size:90%}section.ep{border-top:1px solid #ddd;padding:.5em 0}
"""
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def anchor(store_id: str, seq: int) -> str:
    """HTML id of an episode's section."""
    return f"ep-{_SAFE_ID.sub('_', store_id)}-{seq}"


def _css_class(verdict: str) -> str:
    return {"pass": "pass", "fail": "fail"}.get(verdict, "undecided")


def _value(result: CriterionResult) -> str:
    if result.measured is None:
        return "–"
    if result.unit == "episodes":
        return f"{result.measured:.0f}"
    return f"{result.measured:.3f}" if result.unit == "h" else f"{result.measured:.2f}"


def result_dict(result: CriterionResult) -> dict[str, Any]:
    """One result as JSON-ready data (deciding records in full)."""
    return {
        "scenario": result.scenario,
        "criterion": result.criterion,
        "site": result.site,
        "robot": result.robot,
        "measured": result.measured,
        "unit": result.unit,
        "comparison": result.comparison,
        "threshold": result.threshold,
        "verdict": result.verdict,
        "samples": result.samples,
        "detail": result.detail,
        "deciding": [
            {
                "store_id": d.store_id,
                "seq": d.seq,
                "time_utc": d.time_utc,
                "episode_id": d.episode_id,
                "note": d.note,
            }
            for d in result.deciding
        ],
    }


class _Streamed(list):  # type: ignore[type-arg]
    """A list to ``json`` that yields its items from ``make()`` when encoded, so a result
    with millions of deciding records is never held as JSON-ready dicts. Only for the
    pure-Python encoder (``indent`` set, ``iterencode``), which iterates lists."""

    def __init__(self, size: int, make: Callable[[], Iterator[Any]]) -> None:
        super().__init__()
        self._size, self._make = size, make

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return self._make()


def _deciding_dicts(result: CriterionResult) -> Iterator[dict[str, Any]]:
    for d in result.deciding:
        yield {
            "store_id": d.store_id,
            "seq": d.seq,
            "time_utc": d.time_utc,
            "episode_id": d.episode_id,
            "note": d.note,
        }


def _streamed_result(result: CriterionResult) -> dict[str, Any]:
    data = result_dict(replace(result, deciding=()))
    data["deciding"] = _Streamed(len(result.deciding), lambda: _deciding_dicts(result))
    return data


def iter_json(report: PlanReport) -> Iterator[str]:
    """The JSON document in pieces (``render_json``'s text; memory: one piece at a time)."""
    data = {
        "plan": report.plan.plan,
        "plan_file": report.plan_file,
        "source": report.source,
        "generated_utc": report.generated_utc,
        "software_version": software_version(),
        "verdict": report.verdict,
        "chains": [chain.__dict__ for chain in report.chains],
        "results": _Streamed(
            len(report.results), lambda: (_streamed_result(r) for r in report.results)
        ),
    }
    yield from json.JSONEncoder(indent=1, ensure_ascii=False).iterencode(data)
    yield "\n"


def render_json(report: PlanReport) -> str:
    """The JSON document (UTF-8 text, keys in a fixed order)."""
    return "".join(iter_json(report))


def iter_csv(report: PlanReport, rows_per_piece: int = 100) -> Iterator[str]:
    """The CSV table in pieces of ``rows_per_piece`` results (``render_csv``'s text)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for number, r in enumerate(report.results, start=1):
        writer.writerow(
            [
                r.scenario,
                r.criterion,
                r.site,
                r.robot,
                "" if r.measured is None else repr(r.measured),
                r.unit,
                r.comparison,
                repr(r.threshold),
                r.verdict,
                r.samples,
                r.detail,
                ";".join(f"{d.store_id}:{d.seq}" for d in r.deciding),
            ]
        )
        if number % rows_per_piece == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def render_csv(report: PlanReport) -> str:
    """The CSV table: one row per result, deciding records as ``store:seq`` joined by ``;``."""
    return "".join(iter_csv(report))


def _chain_rows(report: PlanReport) -> list[str]:
    esc = html.escape
    rows = [
        "<table><tr><th>Store</th><th>Location</th><th>Chain</th><th>Signature</th>"
        "<th>Records</th><th>Head</th><th>Snapshots checked</th><th>File SHA-256</th></tr>"
    ]
    for c in report.chains:
        chain = (
            "<span class='pass'>verified</span>"
            if c.ok
            else f"<span class='fail'>FAILED</span>: {esc(str(c.problem))}"
        )
        signed = esc(c.signature) + (
            f" (key {esc(c.key_fingerprint)})" if c.key_fingerprint else ""
        )
        css = {"valid": "pass", "invalid": "fail"}.get(c.signature.split(" ")[0], "")
        rows.append(
            f"<tr><td><code>{esc(c.store_id)}</code></td><td>{esc(c.location)}</td>"
            f"<td>{chain}</td><td class='{css}'>{signed}</td><td>{c.records}</td>"
            f"<td><code>#{c.head_seq} {esc(c.head_hash)}</code></td><td>{c.snapshots_checked}</td>"
            f"<td><code>{esc(c.file_sha256 or '–')}</code></td></tr>"
        )
    rows.append("</table>")
    return rows


def _links(report: PlanReport, result: CriterionResult) -> str:
    esc = html.escape
    links = []
    for d in result.deciding[:MAX_LINKS]:
        text = f"#{d.seq} {d.time_utc}: {d.note}"
        if (d.store_id, d.seq) in report.episodes:
            links.append(f"<a href='#{anchor(d.store_id, d.seq)}'>{esc(text)}</a>")
        else:
            links.append(esc(text))
    more = len(result.deciding) - MAX_LINKS
    if more > 0:
        links.append(f"… and {more} more (all in the JSON and CSV)")
    return "<br>".join(links) or "–"


def _result_rows(report: PlanReport, scenario_id: str) -> list[str]:
    esc = html.escape
    rows = [
        "<table><tr><th>Criterion</th><th>Site</th><th>Robot</th><th>Measured</th>"
        "<th>Required</th><th>Verdict</th><th>Detail</th><th>Deciding records</th></tr>"
    ]
    for r in (r for r in report.results if r.scenario == scenario_id):
        rows.append(
            f"<tr><td>{esc(r.criterion)}</td><td>{esc(r.site)}</td><td>{esc(r.robot)}</td>"
            f"<td>{esc(_value(r))} {esc(r.unit)}</td>"
            f"<td>{esc(r.comparison)} {r.threshold:g} {esc(r.unit)}</td>"
            f"<td class='{_css_class(r.verdict)}'>{esc(r.verdict)}</td><td>{esc(r.detail)}</td>"
            f"<td>{_links(report, r)}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _episode_section(report: PlanReport, e: EpisodeFact) -> str:
    esc = html.escape

    def metres(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f} m"

    latency = "–" if e.reaction_latency_s is None else f"{e.reaction_latency_s * 1000:.1f} ms"
    facts = [
        ("Store, record", f"{e.store_id} #{e.seq} (hash {e.hash})"),
        ("Site, run", f"{e.site}, {e.run_id or '–'}"),
        ("Episode", e.episode_id + (" (continuation)" if e.continues else "")),
        ("Kind, category", f"{e.kind}, {e.category}"),
        ("Start, duration", f"{e.start_utc}, {e.duration_s:.2f} s"),
        ("Reasons", ", ".join(sorted(e.reasons)) or "–"),
        ("Zones", ", ".join(sorted(e.zones)) or "–"),
        ("Robots", ", ".join(e.robot_ids) or "–"),
        ("Closest d, S_p", f"{metres(e.min_distance_m)}, {metres(e.protective_separation_m)}"),
        ("Reaction latency", latency),
    ]
    parts = [
        f"<section class='ep' id='{anchor(e.store_id, e.seq)}'>",
        f"<h3>Record #{e.seq} — {esc(e.kind)} at {esc(e.start_utc)}</h3><table>",
        *(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts),
        "</table>",
    ]
    for ref in e.snapshots:
        file, camera = str(ref.get("file", "")), str(ref.get("camera_id", ""))
        data = report.snapshots.get((e.store_id, file))
        if data is None:
            parts.append(
                f"<p class='note'>snapshot {esc(file)} (camera {esc(camera)}) is not available "
                f"from {esc(report.source)}</p>"
            )
            continue
        if hashlib.sha256(data).hexdigest() != ref.get("sha256"):
            parts.append(
                f"<p class='fail'>snapshot {esc(file)} does not match its recorded SHA-256</p>"
            )
        encoded = base64.b64encode(data).decode("ascii")
        parts.append(
            f"<img class='snap' alt='camera {esc(camera)}: {esc(file)}' "
            f"src='data:image/jpeg;base64,{encoded}'>"
        )
    if not e.snapshots:
        parts.append("<p class='note'>no snapshot recorded</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: PlanReport) -> str:
    """The self-contained page."""
    esc = html.escape
    plan = report.plan
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Verification report: {esc(plan.plan)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Verification report: {esc(plan.plan)}</h1>",
        f"<p class='note'>Generated {esc(report.generated_utc)} by safetymon "
        f"{esc(software_version())} from {esc(report.source)} against plan "
        f"{esc(report.plan_file)}. safetymon is not a certified safety device; these figures "
        "come from its own records.</p>",
        f"<p>{esc(plan.description)}</p>" if plan.description else "",
        f"<p>Overall: <span class='{_css_class(report.verdict)}'>{esc(report.verdict)}</span> "
        f"({sum(r.verdict == 'pass' for r in report.results)} passed, "
        f"{sum(r.verdict == 'fail' for r in report.results)} failed, "
        f"{sum(r.verdict == 'not decided' for r in report.results)} not decided; "
        f"chains {'verified' if report.chains_ok else 'NOT verified'})</p>",
        "<h2>Chain and signature</h2>",
        *_chain_rows(report),
        "<p class='note'>A verified chain shows that no record was edited, removed or moved "
        "since it was written; compare the head hash with a copy kept elsewhere (or the "
        "central copy) to rule out a rebuilt chain.</p>",
    ]
    for scenario in plan.scenarios:
        window = (
            f"{scenario.since.isoformat() if scenario.since else 'first record'} .. "
            f"{scenario.until.isoformat() if scenario.until else 'last record'}"
        )
        parts += [
            f"<h2 id='scenario-{esc(scenario.id)}'>Scenario {esc(scenario.id)}</h2>",
            f"<p>{esc(scenario.description)}</p>" if scenario.description else "",
            f"<p class='note'>sites: {esc(', '.join(scenario.sites) or 'all')}; robots: "
            f"{esc(', '.join(scenario.robots) or 'all')}; window: {esc(window)}</p>",
            *_result_rows(report, scenario.id),
        ]
        data = report.scenario_data.get(scenario.id)
        if data is not None:
            for title, png in plots(*data).items():
                parts.append(
                    f"<h3>{esc(title)}</h3><img alt='{esc(scenario.id)}: {esc(title)}' "
                    f"src='data:image/png;base64,{png}'>"
                )
    parts.append("<h2>Deciding episodes</h2>")
    parts += [_episode_section(report, e) for e in report.episodes.values()]
    if not report.episodes:
        parts.append("<p class='note'>no episode decides a criterion</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
