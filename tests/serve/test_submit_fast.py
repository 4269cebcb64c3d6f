"""A report POSTed to the API is stored exactly as the same report imported from a file.

The web service validates a POSTed report with the importer's own rules
(``field_report.check_records``) and stores it without the file pipeline; these tests pin
that the events it stores are those ``ceasewatch ingest field-report`` stores for a JSON
Lines file holding the same observations, one per line: same content hash, same raw
record text byte for byte, same value in every column.
"""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    client,
    demo_store,
    headers_for,
)

from ceasewatch.ingest.base import SMALL_BATCH_ROWS, get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.submit import validate_report
from ceasewatch.store.duckdb import DuckDBStore

#: columns that say when and in which batch a row was stored, not what it is
PROVENANCE = ("batch_id", "recorded_at")


def _observations(report_id: str, n: int) -> list[dict[str, Any]]:
    """``n`` observations that exercise the text the raw record keeps: numbers as numbers
    and as text, upper case, offsets, escapes, non-ASCII, missing and extra fields."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        o: dict[str, Any] = {
            "report_id": report_id,
            "observation_id": str(i + 1),
            "observer_id": "T07",
            "observer_lon": 37.7411 + i / 1000,
            "observer_lat": "48.5983",
            "window_start": f"2025-10-02T{16 + i % 6:02d}:05:00+03:00",
            "kind": ["explosion", "Flare", "BURST", "heavy_weapon_sighting"][i % 4],
            "count": [12, "3", 1.0][i % 3],
            "assessment": ["impact", "", "Outgoing"][i % 3],
        }
        if i % 2 == 0:
            o.update(
                window_end=f"2025-10-02T{16 + i % 6:02d}:40:00Z",
                bearing_deg=95 + i,
                distance_min_km=3,
                distance_max_km="5.5",
                weapon_class=["artillery_100mm_plus", "tactical_missiles", "MORTAR"][i % 3],
                reliability="b",
                credibility=3,
            )
        if i % 3 == 0:
            o["notes"] = 'a "quoted" note\nover two lines, \\ \t ü 😀 \x01'
        if i % 5 == 0:
            o["vehicle"] = {"type": "BMP-2", "seen": [1, 2]}
        out.append(o)
    return out


def _stored(con: Any, report_id: str) -> pd.DataFrame:
    return (
        con.execute(
            "SELECT * FROM events WHERE source = 'field_report' AND source_event_id LIKE ? "
            "ORDER BY source_event_id, version",
            [report_id + "/%"],
        )
        .df()
        .drop(columns=list(PROVENANCE))
        .reset_index(drop=True)
    )


@pytest.mark.parametrize("n", [1, 3, SMALL_BATCH_ROWS + 6])
def test_api_report_is_stored_as_the_same_file_would_be(
    client: TestClient, demo_store: DemoStore, tmp_path: Path, n: int
) -> None:
    report_id = f"IDENT-{n}"
    observations = _observations(report_id, n)
    r = client.post(
        "/api/field-reports",
        json={"observations": observations},
        headers=headers_for(demo_store, "monitor"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["loaded"] == n

    path = tmp_path / "report.jsonl"
    path.write_text(
        "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in observations), encoding="utf-8"
    )
    file_store = DuckDBStore(":memory:")
    try:
        result = ingest_file(file_store, get_source("field_report"), path)
        assert (result.loaded, result.quarantined) == (n, 0)
        from_file = _stored(file_store.con, report_id)
    finally:
        file_store.close()
    ctx: ServeContext = client.app.state.ctx  # type: ignore[attr-defined]
    from_api = _stored(ctx.reader(), report_id)

    assert len(from_api) == n
    assert from_api["event_id"].tolist() == from_file["event_id"].tolist()
    assert from_api["content_sha"].tolist() == from_file["content_sha"].tolist()
    assert from_api["raw"].tolist() == from_file["raw"].tolist()  # byte for byte
    pd.testing.assert_frame_equal(from_api, from_file, check_exact=True)
    # the raw record is the observation's text as read, extra members kept
    first = json.loads(from_api["raw"].iloc[0])
    assert first["observer_lat"] == "48.5983" and json.loads(first["_extra"])["vehicle"]


def test_a_new_version_through_the_api_matches_the_file_path_too(
    client: TestClient, demo_store: DemoStore, tmp_path: Path
) -> None:
    first = _observations("IDENT-V", 2)
    second = [dict(first[0], count=99), first[1]]  # one changed, one unchanged
    h = headers_for(demo_store, "monitor")
    assert client.post("/api/field-reports", json={"observations": first}, headers=h).is_success
    again = client.post("/api/field-reports", json={"observations": second}, headers=h).json()
    assert (again["loaded"], again["new_version"], again["unchanged"]) == (0, 1, 1)

    file_store = DuckDBStore(":memory:")
    try:
        for k, obs in enumerate((first, second)):
            path = tmp_path / f"r{k}.jsonl"
            path.write_text("".join(json.dumps(o) + "\n" for o in obs), encoding="utf-8")
            ingest_file(file_store, get_source("field_report"), path)
        from_file = _stored(file_store.con, "IDENT-V")
    finally:
        file_store.close()
    ctx: ServeContext = client.app.state.ctx  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(_stored(ctx.reader(), "IDENT-V"), from_file, check_exact=True)


def test_validate_report_lists_every_problem_with_the_importers_reasons() -> None:
    good = _observations("VAL", 1)[0]
    observations = [
        good,
        {**good, "observation_id": "2", "count": "inf"},
        {**good, "observation_id": "3", "observer_lon": "east"},
        {**good, "observation_id": "4", "window_start": "2025-10-02T16:05:00"},
        {**good},  # the first one again
    ]
    from ceasewatch.serve.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="4 of 5 observation") as info:
        validate_report(observations)
    detail = info.value.detail
    assert [p["index"] for p in detail] == [1, 2, 3, 4]
    assert detail[0]["reason"] == "count 'inf' is not a whole number ≥ 1"
    assert detail[1]["reason"] == "observer_lon 'east' is not a number in [-180, 180]"
    assert detail[2]["observation_id"] == "4" and "with offset" in detail[2]["reason"]
    assert "duplicate report_id/observation_id 'VAL/1'" in detail[3]["reason"]
