"""The field-report write path: a round stored with a fixed number of statements, its
rows put into the read snapshot without a read back, validation in a worker process, and
the snapshot's small-segment indexes equal to pandas'."""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import os
import random
from concurrent.futures import Future
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    client,
    ctx_of,
    demo_store,
    headers_for,
)

from ceasewatch.serve import queries, submit
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.params import EventParams
from ceasewatch.serve.snapshot import EVENTS, Segment, _factorize, _floats
from ceasewatch.store import audit
from ceasewatch.store.audit import append_audit, append_audit_many, verify_chain
from ceasewatch.store.duckdb import DuckDBStore


def _obs(report: str, n: int = 2, **over: Any) -> list[dict[str, Any]]:
    return [
        {
            "report_id": report,
            "observation_id": str(i + 1),
            "observer_id": "T07",
            "observer_lon": 37.31 + i / 100,
            "observer_lat": 47.93,
            "window_start": f"2025-09-12T08:{30 + i:02d}:00Z",
            "kind": "explosion",
            "count": 3,
            "bearing_deg": 120,
            "distance_min_km": 2,
            "distance_max_km": 4,
            **over,
        }
        for i in range(n)
    ]


def _all_pages(ctx: ServeContext, params: EventParams) -> tuple[list[Any], list[Any]]:
    """Every page of ``params`` from the snapshot and from SQL."""
    snap_rows: list[Any] = []
    sql_rows: list[Any] = []
    cursor = None
    table = ctx.snapshot().events
    while True:
        pos, cursor = table.select(params.model_copy(update={"cursor": cursor}))
        snap_rows += [table.row(int(i)) for i in pos]
        if not cursor:
            break
    cursor = None
    while True:
        page = queries.query_events(ctx.reader(), params.model_copy(update={"cursor": cursor}))
        sql_rows += [tuple(r) for r in page.rows]
        cursor = page.next_cursor
        if not cursor:
            break
    return snap_rows, sql_rows


def _count_refreshes(ctx: ServeContext, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets an item for each read-back refresh of the snapshot from now on."""
    calls: list[int] = []
    original = ctx.snapshots.refresh

    def counted(con: Any) -> Any:
        calls.append(1)
        return original(con)

    monkeypatch.setattr(ctx.snapshots, "refresh", counted)
    return calls


def test_posted_rows_enter_the_snapshot_without_a_read_back(
    client: TestClient, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    ctx.snapshot()
    calls = _count_refreshes(ctx, monkeypatch)
    before = ctx.snapshots.delta_updates
    h = headers_for(demo_store, "monitor")
    ids: list[str] = []
    for k in range(3):
        r = client.post("/api/field-reports", json={"observations": _obs(f"RW-{k}")}, headers=h)
        assert r.status_code == 201, r.text
        ids += r.json()["event_ids"]
    assert calls == []  # the INSERT's returned rows were used
    assert ctx.snapshots.delta_updates == before + 3
    params = EventParams(source="field_report", limit=7)
    snap_rows, sql_rows = _all_pages(ctx, params)
    assert snap_rows == sql_rows
    assert {r[0] for r in snap_rows} >= set(ids)


def test_a_new_version_is_read_back_with_its_evaluation(
    client: TestClient, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    h = headers_for(demo_store, "monitor")
    assert (
        client.post(
            "/api/field-reports", json={"observations": _obs("RV-1")}, headers=h
        ).status_code
        == 201
    )
    calls = _count_refreshes(ctx, monkeypatch)
    r = client.post("/api/field-reports", json={"observations": _obs("RV-1", count=9)}, headers=h)
    assert r.status_code == 201 and r.json()["new_version"] == 2, r.text
    assert calls == [1]
    snap_rows, sql_rows = _all_pages(ctx, EventParams(source="field_report", limit=1000))
    assert snap_rows == sql_rows


def test_a_rolled_back_round_leaves_the_snapshot_alone(client: TestClient) -> None:
    """A round noted inside a write that then fails shows nothing and does not stop the
    next write from using its rows."""
    ctx = ctx_of(client)
    seq = ctx.snapshot().seq
    records = _obs("RB-1")
    p = submit.prepare_report(records)
    job = submit._Job(records, "t", None, p.event_ids, p.sha, p.size, rows=p.rows, shas=p.shas)
    with pytest.raises(RuntimeError), ctx.write() as store:
        _, written = submit._store_round(store, [job])
        assert written is not None
        ctx.note_written(written)
        raise RuntimeError("rolled back")
    assert ctx.snapshot().seq == seq
    assert not {r[0] for r in _all_pages(ctx, EventParams(source="field_report"))[0]} & set(
        p.event_ids
    )
    r = ctx.field_reports.submit(records, actor="t")
    assert r["loaded"] == 2
    snap_rows, sql_rows = _all_pages(ctx, EventParams(source="field_report", limit=1000))
    assert snap_rows == sql_rows


def test_a_round_of_several_reports_is_one_transaction_of_four_statements(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    jobs = []
    for k in range(5):
        records = _obs(f"RG-{k}", n=1 + k % 3)
        p = submit.prepare_report(records)
        jobs.append(
            submit._Job(records, "t", None, p.event_ids, p.sha, p.size, rows=p.rows, shas=p.shas)
        )
    executed: list[str] = []
    store = ctx.store
    assert isinstance(store, DuckDBStore)
    real = store.con

    class Counting:
        def execute(self, sql: str, params: Any = None) -> Any:
            executed.append(sql.split()[0])
            return real.execute(sql, params) if params is not None else real.execute(sql)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    # the audit module knows its table by connection: the wrapper is the same one
    monkeypatch.setattr(audit, "_is_ready", lambda store: True)
    with ctx.write() as st:
        monkeypatch.setattr(st, "con", Counting())
        results, written = submit._store_round(st, jobs)
        monkeypatch.setattr(st, "con", real)
        assert written is not None
        ctx.note_written(written)
    assert executed == ["SELECT", "INSERT", "INSERT", "INSERT"]
    batch_ids = [results[id(j)]["batch_id"] for j in jobs]
    assert len(set(batch_ids)) == 5
    assert [results[id(j)]["loaded"] for j in jobs] == [1, 2, 3, 1, 2]
    rows = (
        ctx.reader()
        .execute(
            "SELECT batch_id, rows_loaded, status FROM batches WHERE batch_id IN (SELECT unnest(?)) "
            "ORDER BY batch_id",
            [batch_ids],
        )
        .fetchall()
    )
    assert [(r[1], r[2]) for r in rows] == [
        (1, "done"),
        (2, "done"),
        (3, "done"),
        (1, "done"),
        (2, "done"),
    ]
    assert verify_chain(ctx.store).ok
    snap_rows, sql_rows = _all_pages(ctx, EventParams(source="field_report", limit=1000))
    assert snap_rows == sql_rows
    # sent again: recognised, nothing written, each answered with its first batch
    with ctx.write() as st:
        again, none = submit._store_round(st, jobs)
    assert none is None
    assert [again[id(j)]["batch_id"] for j in jobs] == batch_ids
    assert all(again[id(j)]["duplicate"] for j in jobs)


def test_append_audit_many_writes_the_entries_separate_appends_would(tmp_path: Any) -> None:
    entries = [
        {"actor": "a", "action": "x.one", "entity": "e", "entity_id": str(i), "payload": {"i": i}}
        for i in range(4)
    ]
    at = pd.Timestamp("2025-09-01T00:00:00Z").to_pydatetime()
    one = DuckDBStore(tmp_path / "one.duckdb")
    many = DuckDBStore(tmp_path / "many.duckdb")
    try:
        seqs_one = [append_audit(one, **e, at=at) for e in entries]
        with many.transaction():
            seqs_many = append_audit_many(many, [{**e, "at": at} for e in entries])
        assert seqs_one == seqs_many == [1, 2, 3, 4]
        q = "SELECT * FROM audit_log ORDER BY seq"
        assert one.con.execute(q).fetchall() == many.con.execute(q).fetchall()
        assert verify_chain(many).ok
        assert append_audit_many(many, []) == []
    finally:
        one.close()
        many.close()


def test_plain_reports_are_validated_on_the_event_loop(
    client: TestClient, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a plain report went to the worker process")

    monkeypatch.setattr(submit, "_prepare_in_worker", refuse)
    h = headers_for(demo_store, "monitor")
    records = _obs("QP-1", n=3)
    r = client.post("/api/field-reports", json={"observations": records}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["event_ids"] == submit.prepare_report(records, quick=False).event_ids


def test_validation_in_a_worker_process_answers_as_in_a_thread(
    client: TestClient, demo_store: DemoStore
) -> None:
    ctx = ctx_of(client)
    assert ctx.settings.validate_processes >= 1 and ctx.validation_pool is not None
    h = headers_for(demo_store, "monitor")
    bad = _obs("WP-1", n=3)
    bad[1]["count"] = 0
    bad[2]["window_start"] = "2025-09-12T08:30:00"  # no offset
    r = client.post("/api/field-reports", json={"observations": bad}, headers=h)
    assert r.status_code == 422
    body = r.json()["error"]
    with pytest.raises(submit.InvalidRequestError) as err:
        submit.prepare_report(bad)
    assert body["detail"] == err.value.detail
    assert [d["index"] for d in body["detail"]] == [1, 2]
    good = _obs("WP-2", count="3.0")  # valid, not plain: the rules in the worker decide
    assert submit.quick_prepare(good) is None
    expected = submit.prepare_report(good)
    r = client.post("/api/field-reports", json={"observations": good}, headers=h)
    assert r.status_code == 201 and r.json()["event_ids"] == expected.event_ids


def test_a_dead_validation_process_is_replaced(
    client: TestClient, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_of(client)
    pool = ctx.validation_pool
    assert pool is not None
    pids = list(pool._processes)
    if not pids:
        pool.submit(submit._warm_up).result(timeout=60)
        pids = list(pool._processes)
    os.kill(pids[0], 9)
    h = headers_for(demo_store, "monitor")
    # not plain (count "3.0"): validated by the rules, in a worker process when one lives
    r = client.post(
        "/api/field-reports", json={"observations": _obs("DP-1", count="3.0")}, headers=h
    )
    assert r.status_code == 201, r.text
    fresh = ctx.validation_pool
    assert fresh is not None and fresh is not pool
    r = client.post(
        "/api/field-reports", json={"observations": _obs("DP-2", count="3.0")}, headers=h
    )
    assert r.status_code == 201, r.text


def _with_missing(rng: random.Random, n: int) -> np.ndarray:
    pool: list[Any] = ["a", "b", "c;d", "", None, float("nan"), pd.NA, "zone", "a"]
    out = np.empty(n, dtype=object)
    out[:] = [rng.choice(pool) for _ in range(n)]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_small_segment_indexes_equal_pandas(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([0, 1, 5, 300])
    values = _with_missing(rng, n)
    fallback = _with_missing(rng, n) if seed % 2 else None
    codes, uniques = _factorize(values, fallback)
    series = pd.Series(values, dtype=object)
    if fallback is not None:
        series = series.where(series.notna(), pd.Series(fallback, dtype=object))
    want_codes, want_uniques = pd.factorize(series, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist()
    assert uniques == list(want_uniques)
    nums = np.empty(n, dtype=object)
    nums[:] = [rng.choice([1.5, 2, None, float("nan"), "3.25", "x", -0.0, 1e300]) for _ in range(n)]
    want = pd.to_numeric(pd.Series(nums, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    np.testing.assert_array_equal(_floats(nums), want)


def test_small_segment_positions_equal_the_index_lookup() -> None:
    rows = [(f"id{i}", *([None] * (len(EVENTS.columns) - 1)), i) for i in range(50)]
    cols = {c: np.asarray([r[k] for r in rows], dtype=object) for k, c in enumerate(EVENTS.columns)}
    seg = Segment(EVENTS, cols, np.arange(50, dtype=np.int64))
    ids = np.asarray(["id3", "nope", "id49", "id0"], dtype=object)
    assert seg.positions_of(ids).tolist() == [3, -1, 49, 0]
    assert pd.Index(seg.ids).get_indexer(pd.Index(ids)).tolist() == [3, -1, 49, 0]


def test_job_rows_are_those_of_the_events_frame() -> None:
    records = _obs("JR-1", n=3)
    events = submit.validate_report(records)
    job = submit._Job(records, "t", events, ["x"] * 3, "s", 1, future=Future())
    prepared = submit.prepare_report(records)
    assert job.rows == prepared.rows and job.shas == prepared.shas
