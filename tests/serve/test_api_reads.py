"""Reads: filters (bbox, time, zone, sector, category, source, status), cursor paging,
as-of, GeoJSON/CSV negotiation, incident evidence, agreement geometry, counts, coverage."""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    client,
    ctx_of,
    demo_store,
    headers_for,
    shared_client,
)


def _get(client: TestClient, demo: DemoStore, url: str, who: str = "observer") -> Any:
    r = client.get(url, headers=headers_for(demo, who))
    assert r.status_code == 200, r.text[:500]
    return r


def _all(client: TestClient, demo: DemoStore, url: str, limit: int = 1000) -> list[dict[str, Any]]:
    sep = "&" if "?" in url else "?"
    feats: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _get(
            client, demo, f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        ).json()
        feats += page["features"]
        cursor = page["next_cursor"]
        if not cursor:
            return feats


def _frame(client: TestClient, sql: str) -> pd.DataFrame:
    return ctx_of(client).reader().execute(sql).df()


@pytest.mark.parametrize(
    "kind,id_col",
    [("events", "event_id"), ("incidents", "incident_id"), ("violations", "violation_id")],
)
def test_cursor_paging_walks_everything_once_in_order(
    shared_client: TestClient, demo_store: DemoStore, kind: str, id_col: str
) -> None:
    small = _all(shared_client, demo_store, f"/api/{kind}", limit=97)
    big = _all(shared_client, demo_store, f"/api/{kind}", limit=1000)
    ids = [f["id"] for f in small]
    assert ids == [f["id"] for f in big]
    assert len(ids) == len(set(ids)) > 97
    keys = [(f["properties"]["occurred_at"], f["id"]) for f in small]
    assert keys == sorted(keys)
    table = "events" if kind == "events" else kind
    where = "WHERE active" if kind == "violations" else ""
    n = _frame(shared_client, f"SELECT count(DISTINCT {id_col}) AS n FROM {table} {where}")["n"][0]
    assert len(ids) == n


def test_cursor_is_stable_when_records_arrive_meanwhile(
    client: TestClient, demo_store: DemoStore
) -> None:
    first = _get(client, demo_store, "/api/events?limit=200&source=field_report").json()
    before = _all(client, demo_store, "/api/events?source=field_report")
    # a late report about an early time arrives between two pages
    obs = {
        "report_id": "LATE-1",
        "observation_id": "1",
        "observer_id": "T01",
        "observer_lon": 37.5,
        "observer_lat": 48.5,
        "window_start": "2025-09-01T00:00:00Z",
        "kind": "flash",
        "count": 1,
    }
    r = client.post(
        "/api/field-reports",
        json={"observations": [obs]},
        headers=headers_for(demo_store, "monitor"),
    )
    assert r.status_code == 201, r.text
    rest = _all(
        client, demo_store, f"/api/events?source=field_report&cursor={first['next_cursor']}"
    )
    walked = [f["id"] for f in first["features"]] + [f["id"] for f in rest]
    assert walked == [f["id"] for f in before]  # nothing duplicated, nothing skipped
    after = _all(client, demo_store, "/api/events?source=field_report")
    assert len(after) == len(before) + 1


def test_bbox_and_time_filters(shared_client: TestClient, demo_store: DemoStore) -> None:
    x0, y0, x1, y1 = 37.0, 47.8, 38.0, 48.6
    since, until = "2025-09-10T00:00:00Z", "2025-09-20T00:00:00Z"
    feats = _all(
        shared_client,
        demo_store,
        f"/api/incidents?bbox={x0},{y0},{x1},{y1}&since={since}&until={until}",
    )
    assert feats
    for f in feats:
        lon, lat = f["geometry"]["coordinates"]
        assert x0 <= lon <= x1 and y0 <= lat <= y1
        assert since <= f["properties"]["occurred_at"] < until
    inc = _frame(shared_client, "SELECT * FROM incidents")
    t = inc["occurred_at"]
    expected = inc[
        inc["lon"].between(x0, x1)
        & inc["lat"].between(y0, y1)
        & (t >= pd.Timestamp(since))
        & (t < pd.Timestamp(until))
    ]
    assert {f["id"] for f in feats} == set(expected["incident_id"])


def test_time_range_is_half_open(shared_client: TestClient, demo_store: DemoStore) -> None:
    feats = _all(shared_client, demo_store, "/api/violations")
    t = feats[10]["properties"]["occurred_at"]
    at = _all(shared_client, demo_store, f"/api/violations?since={t}&until={t}")
    assert at == []
    from_t = _all(shared_client, demo_store, f"/api/violations?since={t}")
    assert all(f["properties"]["occurred_at"] >= t for f in from_t)
    assert any(f["properties"]["occurred_at"] == t for f in from_t)


@pytest.mark.parametrize(
    "query,prop,values",
    [
        ("zone=disengagement", "zone", {"disengagement"}),
        ("zone=mlrs,heavy_mlrs", "zone", {"mlrs", "heavy_mlrs"}),
        ("sector=Zaporizhzhia", "sector", {"Zaporizhzhia"}),
        ("category=shelling", "category", {"shelling"}),
        ("status=detected", "status", {"detected"}),
        ("severity=breach", "severity", {"breach"}),
    ],
)
def test_violation_filters(
    shared_client: TestClient, demo_store: DemoStore, query: str, prop: str, values: set[str]
) -> None:
    feats = _all(shared_client, demo_store, f"/api/violations?{query}")
    assert feats
    assert {f["properties"][prop] for f in feats} <= values


def test_source_filter_matches_any_member(shared_client: TestClient, demo_store: DemoStore) -> None:
    feats = _all(shared_client, demo_store, "/api/incidents?source=field_report")
    assert feats and all("field_report" in f["properties"]["sources"] for f in feats)
    ev = _all(shared_client, demo_store, "/api/events?source=firms&category=fire_detection")
    assert ev and {(f["properties"]["source"], f["properties"]["category"]) for f in ev} == {
        ("firms", "fire_detection")
    }


def test_events_as_of(client: TestClient, demo_store: DemoStore) -> None:
    cut = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    before = _all(client, demo_store, f"/api/events?source=field_report&as_of={cut}")
    obs = {
        "report_id": "ASOF-1",
        "observation_id": "1",
        "observer_id": "T01",
        "observer_lon": 37.5,
        "observer_lat": 48.5,
        "window_start": "2025-09-15T10:00:00Z",
        "kind": "burst",
        "count": 4,
    }
    h = headers_for(demo_store, "monitor")
    assert (
        client.post("/api/field-reports", json={"observations": [obs]}, headers=h).status_code
        == 201
    )
    # a corrected version of the same observation: a new version of the event
    fixed = dict(obs, count=5)
    assert (
        client.post("/api/field-reports", json={"observations": [fixed]}, headers=h).status_code
        == 201
    )
    then = _all(client, demo_store, f"/api/events?source=field_report&as_of={cut}")
    now = _all(client, demo_store, "/api/events?source=field_report")
    assert [f["id"] for f in then] == [f["id"] for f in before]
    assert len(now) == len(before) + 1
    new = next(f for f in now if f["properties"]["source_event_id"] == "ASOF-1/1")
    assert new["properties"]["version"] == 2 and new["properties"]["count"] == 5
    detail = _get(client, demo_store, f"/api/events/{new['id']}").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]


def test_csv_by_accept_header_and_by_format(
    shared_client: TestClient, demo_store: DemoStore
) -> None:
    h = {**headers_for(demo_store, "observer"), "Accept": "text/csv"}
    r = shared_client.get("/api/violations?limit=50", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 50 and "violation_id" in rows[0] and "status" in rows[0]
    assert r.headers["x-next-cursor"] and 'rel="next"' in r.headers["link"]
    r2 = _get(shared_client, demo_store, "/api/violations?limit=50&format=csv")
    assert r2.text == r.text
    gj = _get(shared_client, demo_store, "/api/violations?limit=50")
    assert gj.headers["content-type"].startswith("application/geo+json")
    assert [f["id"] for f in gj.json()["features"]] == [row["violation_id"] for row in rows]


def test_geojson_is_valid_points(shared_client: TestClient, demo_store: DemoStore) -> None:
    fc = _get(shared_client, demo_store, "/api/events?limit=20").json()
    assert fc["type"] == "FeatureCollection" and fc["count"] == 20
    for f in fc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert (lon, lat) == (f["properties"]["lon"], f["properties"]["lat"])


def test_incident_detail_has_evidence_and_sources(
    shared_client: TestClient, demo_store: DemoStore
) -> None:
    inc = _all(shared_client, demo_store, "/api/incidents?source=firms")
    multi = next(f for f in inc if f["properties"]["n_sources"] >= 2)
    doc = _get(shared_client, demo_store, f"/api/incidents/{multi['id']}").json()
    assert len(doc["events"]) == doc["n_events"]
    assert {e["properties"]["source"] for e in doc["events"]} == set(doc["sources"])
    assert all(e["properties"]["incident_id"] == multi["id"] for e in doc["events"])
    assert "raw" not in doc["events"][0]["properties"]


def test_agreement_geometry_layers(shared_client: TestClient, demo_store: DemoStore) -> None:
    fc = _get(shared_client, demo_store, "/api/agreements/latest/geometry").json()
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds.count("line") == 1 and kinds.count("band") == 4
    assert "control" in kinds
    widths = [
        f["properties"]["width_km"] for f in fc["features"] if f["properties"]["kind"] == "band"
    ]
    assert widths == sorted(widths, reverse=True)  # widest drawn first
    versions = _get(shared_client, demo_store, "/api/agreements").json()["agreements"]
    assert versions[0]["version"] == 1


def test_daily_counts_add_up(shared_client: TestClient, demo_store: DemoStore) -> None:
    counts = _get(
        shared_client, demo_store, "/api/violations/daily-counts?zone=disengagement"
    ).json()
    listed = _all(shared_client, demo_store, "/api/violations?zone=disengagement")
    assert sum(c["n"] for c in counts["counts"]) == len(listed)


def test_records_received(shared_client: TestClient, demo_store: DemoStore) -> None:
    rec = _get(shared_client, demo_store, "/api/coverage/received?source=acled").json()["received"]
    n = _frame(
        shared_client, "SELECT count(DISTINCT event_id) AS n FROM events WHERE source='acled'"
    )
    assert sum(r["n_records"] for r in rec) == n["n"][0]
    r = shared_client.get("/api/coverage?source=acled", headers=headers_for(demo_store, "observer"))
    assert r.status_code == 200
    cov = r.json()["coverage"]
    # report days (cut-off 19:30 Kyiv) differ from UTC days, the totals do not
    assert sum(row["n_records"] for row in cov) == n["n"][0]
    assert {row["source"] for row in cov} == {"acled"}
    assert all(isinstance(row["observed"], bool) for row in cov)


def test_daily_report_html_and_markdown(shared_client: TestClient, demo_store: DemoStore) -> None:
    html = _get(shared_client, demo_store, "/api/reports/daily?date=2025-10-04")
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    md = _get(shared_client, demo_store, "/api/reports/daily?date=2025-10-04&format=md")
    assert md.text.startswith("# ") and "daily report" in md.text


def test_page_size_is_bounded(shared_client: TestClient, demo_store: DemoStore) -> None:
    r = shared_client.get("/api/events?limit=1001", headers=headers_for(demo_store, "observer"))
    assert r.status_code == 422 and r.json()["error"]["detail"] == {"max_page_size": 1000}
    r = shared_client.get(
        "/api/events?zone=" + ",".join(["z"] * 21), headers=headers_for(demo_store, "observer")
    )
    assert r.status_code == 422


def test_guarantee_routes(shared_client: TestClient, demo_store: DemoStore) -> None:
    doc = _get(shared_client, demo_store, "/api/guarantees?as_of=2025-10-05").json()
    assert "commitments" in doc["tables"] and doc["as_of"] == "2025-10-05"
    table = _get(shared_client, demo_store, "/api/guarantees/tables/commitments").json()
    n = _frame(shared_client, "SELECT count(*) AS n FROM commitments")
    assert len(table["rows"]) == n["n"][0]
    csv = _get(shared_client, demo_store, "/api/guarantees/tables/commitments?format=csv").text
    assert len(csv.strip().splitlines()) == n["n"][0] + 1
    missing = shared_client.get(
        "/api/guarantees/tables/nope", headers=headers_for(demo_store, "observer")
    )
    assert missing.status_code == 404 and "commitments" in missing.json()["error"]["message"]
    html = _get(shared_client, demo_store, "/api/guarantees/report?as_of=2025-10-05").text
    assert "data:image/png;base64" in html and "https://" not in html
