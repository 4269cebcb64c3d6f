"""`ceasewatch demo` end to end, and corroboration measured on its ground truth."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from ceasewatch.demo import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out, store=str(out / "cw.duckdb"), echo=lambda _m: None)
    assert "report.html" in summary and "map.png" in summary
    return out


def test_demo_writes_report_map_and_exports(demo: Path) -> None:
    for name in ("report.html", "report.md", "map.png", "chart.png"):
        assert (demo / "report" / name).stat().st_size > 1_000
    html = (demo / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html and "https://" not in html
    violations = pd.read_csv(demo / "exports" / "violations.csv")
    assert len(violations) > 100
    # before the ceasefire's effective time nothing is a violation
    scenario = json.loads((demo / "inputs" / "scenario.json").read_text())
    effective = pd.Timestamp(scenario["effective"])
    assert (
        pd.to_datetime(violations["occurred_at"], utc=True, format="mixed") >= effective.floor("D")
    ).all()


def test_demo_quarantines_exactly_the_planted_rows(demo: Path) -> None:
    scenario = json.loads((demo / "inputs" / "scenario.json").read_text())
    # JSON lists number observations by position (docs/field-reports.md)
    planted = {(m["file"], int(m.get("line", m.get("position")))) for m in scenario["malformed"]}
    from ceasewatch.store.duckdb import open_store

    st = open_store(demo / "cw.duckdb")
    try:
        q = st.quarantine()
    finally:
        st.close()
    assert {(f, int(n)) for f, n in zip(q["file_name"], q["line_no"], strict=True)} == planted


def _pairs(frame: pd.DataFrame, key: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for _, g in frame.groupby(key):
        out |= set(itertools.combinations(sorted(g["key"]), 2))
    return out


def test_corroboration_recovers_the_true_incidents(demo: Path) -> None:
    truth = pd.read_csv(demo / "inputs" / "truth.csv", dtype=str)
    events = pd.read_csv(demo / "exports" / "events.csv", dtype=str)
    rows = []
    for r in truth.itertuples():
        for a in str(r.acled_ids).split(";"):
            if a not in ("", "nan"):
                rows.append((r.incident_id, "acled", a))
        for f in str(r.firms_keys).split(";"):
            if f not in ("", "nan"):
                lat, lon, day, hhmm = f.split(",")
                rows.append((r.incident_id, "firms", f"N|VIIRS|{day}|{hhmm}|{lat}|{lon}"))
        for x in str(r.field_ids).split(";"):
            if x not in ("", "nan"):
                rows.append((r.incident_id, "field_report", x))
    tr = pd.DataFrame(rows, columns=["true", "source", "source_event_id"])
    m = tr.merge(
        events[["source", "source_event_id", "incident_id"]],
        how="left",
        on=["source", "source_event_id"],
    )
    assert m["incident_id"].notna().all()  # every true record was loaded
    m["key"] = m["source"] + ":" + m["source_event_id"]
    true_pairs, found = _pairs(m, "true"), _pairs(m, "incident_id")
    tp = len(true_pairs & found)
    precision, recall = tp / len(found), tp / len(true_pairs)
    # measured 0.84 / 0.82 (seed 7); the floor guards against regressions
    assert precision >= 0.8 and recall >= 0.78, (precision, recall)
