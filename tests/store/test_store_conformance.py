"""The Store protocol suite, run on both stores: DuckDB (a temporary file) and PostGIS (a
fresh schema on the server of ``CEASEWATCH_TEST_PG``; skipped with the reason without it).

Besides each store on its own, the same operations are applied to both and every read is
compared frame for frame (columns, dtypes, order, values), the CLI is run end to end on
both with identical exports, and the PostGIS store is checked for what only a server
store has: migrations, two ingesting processes at once, a killed ingest, ``store copy``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import make_events, shared_file, write_agreement
from pg_helpers import cli, pg_schema, pg_url_or_skip

from ceasewatch.errors import NotFoundError, StoreError
from ceasewatch.normalize import schema
from ceasewatch.store.base import Store
from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.open import AnyStore, open_store
from ceasewatch.store.postgis import PostGISStore, migrate, migrations, translate

T0 = datetime(2023, 6, 2, tzinfo=UTC)
#: columns whose value is the wall-clock time of the run (differ between any two runs)
WALL_CLOCK = {
    "recorded_at",
    "started_at",
    "finished_at",
    "updated_at",
    "detected_at",
    "loaded_at",
    "file_path",
}


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Time columns in the zone named ``UTC`` (the DuckDB store's ``iter_events`` reads
    through a cursor in the machine's zone, e.g. ``Etc/UTC``: same instants)."""
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.tz_convert("UTC")
    return frame


@pytest.fixture(params=["duckdb", "postgis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "duckdb":
        yield str(tmp_path / "store.duckdb")
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def st(location: str) -> Iterator[AnyStore]:
    store = open_store(location)
    yield store
    store.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[AnyStore, AnyStore]]:
    with pg_schema() as url:
        d = open_store(tmp_path / "both.duckdb")
        p = open_store(url)
        yield d, p
        d.close()
        p.close()


def _events(n: int, **cols: Any) -> pd.DataFrame:
    frame = make_events(n, **cols)
    return frame[list(schema.EVENT_COLUMNS)]


def _batch(store: Store, name: str = "f.csv", sha: str = "abc") -> int:
    return store.begin_batch(
        {"source": "acled", "file_name": name, "file_sha256": sha, "file_bytes": 10}
    )


# --- each store on its own ----------------------------------------------------------------
def test_is_a_store(st: AnyStore) -> None:
    assert isinstance(st, Store)


def test_batches_claims_and_quarantine(st: AnyStore) -> None:
    with st.transaction():
        b = _batch(st)
        first = st.claim_source_ids(b, pd.Series(["a", "b"]), pd.Series([2, 3]))
        assert first.isna().all()
        again = st.claim_source_ids(b, pd.Series(["c", "a"]), pd.Series([4, 5]))
        assert np.isnan(again.iloc[0]) and again.iloc[1] == 2.0
        st.add_quarantine(
            pd.DataFrame(
                {
                    "batch_id": [b],
                    "source": ["acled"],
                    "file_name": ["f.csv"],
                    "line_no": [5],
                    "reason": ["duplicate"],
                    "raw": ["{}"],
                }
            )
        )
        st.finish_batch(b, {"loaded": 3, "quarantined": 1})
    assert st.find_batch("acled", "abc")["batch_id"] == b  # type: ignore[index]
    assert st.find_batch("acled", "other") is None
    batches = st.batches()
    assert batches["status"].tolist() == ["done"]
    assert int(batches["rows_loaded"].iloc[0]) == 3
    q = st.quarantine()
    assert q["reason"].tolist() == ["duplicate"]
    assert st.quarantine(since=datetime.now(UTC) + timedelta(hours=1)).empty
    # a new batch does not see the old one's claims
    with st.transaction():
        b2 = _batch(st, sha="def")
        assert st.claim_source_ids(b2, pd.Series(["a"]), pd.Series([2])).isna().all()
    assert b2 > b


def test_event_versions_and_as_of(st: AnyStore) -> None:
    b = _batch(st)
    c1 = st.add_events(_events(3, raw=["r0", "r1", "r2"]), batch_id=b, recorded_at=T0)
    assert c1 == {"loaded": 3, "new_version": 0, "unchanged": 0}
    later = T0 + timedelta(days=1)
    c2 = st.add_events(_events(3, raw=["r0", "r1 changed", "r2"]), batch_id=b, recorded_at=later)
    assert c2 == {"loaded": 0, "new_version": 1, "unchanged": 2}
    assert st.count_events() == 3
    now = st.events(with_raw=True)
    assert now["raw"].tolist() == ["r0", "r1 changed", "r2"] or sorted(now["raw"]) == sorted(
        ["r0", "r1 changed", "r2"]
    )
    assert sorted(now["version"].tolist()) == [1, 1, 2]
    then = st.events(as_of=T0, with_raw=True)
    assert sorted(then["raw"]) == ["r0", "r1", "r2"]
    assert st.events(as_of=T0 - timedelta(days=1)).empty
    some = st.events(columns=["event_id", "lon"])
    assert list(some.columns) == ["event_id", "lon"]
    chunks = list(st.iter_events(chunk_rows=2))
    assert sum(len(c) for c in chunks) == 3 and len(chunks) == 2
    window = st.events(
        since=pd.Timestamp("2023-06-01T00:00Z").to_pydatetime(),
        until=pd.Timestamp("2023-06-01T12:00Z").to_pydatetime(),
    )
    assert window.empty  # events are at 12:00, the window ends before


def test_agreements(st: AnyStore) -> None:
    rec = {"name": "A", "effective": T0, "sha256": "s", "document": {"x": [1, 2]}}
    assert st.add_agreement(rec) == 1
    assert st.add_agreement({**rec, "label": "v2"}) == 2
    frame = st.agreements()
    assert frame["version"].tolist() == [1, 2]
    assert st.agreement_document(2) == {"x": [1, 2]}
    with pytest.raises(NotFoundError):
        st.agreement_document(3)


def _eval_frame(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ids,
            "content_sha": ["s"] * len(ids),
            "agreement_version": [1] * len(ids),
            "distance_to_line_km": [1.5 + i for i in range(len(ids))],
            "side": ["UA"] * len(ids),
            "zone": [None] * len(ids),
            "sector": ["N"] * len(ids),
        }
    )


def _incidents(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "incident_id": ids,
            "occurred_at": pd.to_datetime(["2023-06-01T12:00Z"] * len(ids)),
            "time_precision": "minute",
            "lon": 37.5,
            "lat": 48.5,
            "geo_precision_m": 100.0,
            "category": "shelling",
            "n_events": np.int32(1),
            "n_sources": np.int32(1),
            "sources": "acled",
            "confidence": 0.5,
            "agreement_version": np.int32(1),
        }
    )


def _violations(ids: list[str], incident_ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "violation_id": ids,
            "incident_id": incident_ids,
            "agreement_version": np.int32(1),
            "rule": "shelling",
            "occurred_at": pd.to_datetime(["2023-06-01T12:00Z"] * len(ids)),
            "lon": 37.5,
            "lat": 48.5,
            "severity": "high",
            "confidence": 0.7,
            "weapon_in_zone": True,
            "n_sources": np.int32(1),
        }
    )


def test_evaluation_results(st: AnyStore) -> None:
    st.put_event_eval(_eval_frame(["e1", "e2"]))
    st.put_event_eval(_eval_frame(["e2"]).assign(side="RU"))
    ev = st.event_eval().sort_values("event_id")
    assert ev["side"].tolist() == ["UA", "RU"]
    assert len(st.evaluated_event_ids()) == 2
    members = pd.DataFrame({"event_id": ["e1", "e2"], "incident_id": ["I1", "I2"]})
    # the first write (nothing stored yet): an incident without a member is not kept
    st.replace_incidents(pd.Series(["e1", "e2"]), _incidents(["I1", "I2", "I3"]), members)
    assert st.incidents()["incident_id"].tolist() == ["I1", "I2"]
    # e2 merged into I1: I2 has no member left and goes
    st.replace_incidents(
        pd.Series(["e2"]),
        _incidents(["I1"]),
        pd.DataFrame({"event_id": ["e2"], "incident_id": ["I1"]}),
    )
    assert st.incidents()["incident_id"].tolist() == ["I1"]
    assert sorted(st.incident_members()["incident_id"]) == ["I1", "I1"]
    # replacing e1 and e2 with members for e1 only: e1 stays (unchanged), e2 leaves
    st.replace_incidents(
        pd.Series(["e1", "e2"]),
        _incidents(["I1"]),
        pd.DataFrame({"event_id": ["e1"], "incident_id": ["I1"]}),
    )
    assert st.incident_members()[["event_id", "incident_id"]].values.tolist() == [["e1", "I1"]]
    st.replace_incidents(
        pd.Series(["e2"]),
        _incidents(["I1"]),
        pd.DataFrame({"event_id": ["e2"], "incident_id": ["I1"]}),
    )
    st.put_violations(_violations(["V1", "V2"], ["I1", "I2"]), incident_ids=pd.Series(["I1", "I2"]))
    st.put_violations(_violations(["V1"], ["I1"]), incident_ids=pd.Series(["I1"]))
    active = st.violations()
    assert active["violation_id"].tolist() == ["V1"]
    assert active["status"].tolist() == ["detected"]
    assert sorted(st.violations(include_inactive=True)["violation_id"]) == ["V1", "V2"]
    st.set_violation_status("V1", "under_review", comment="look", actor="a")
    time.sleep(0.002)
    st.set_violation_status("V1", "confirmed", comment="yes", actor="a")
    assert st.violations()["status"].tolist() == ["confirmed"]
    statuses = st.violation_statuses()
    assert statuses.set_index("violation_id")["status"].to_dict() == {"V1": "confirmed"}
    assert st.violation_statuses(as_of=T0).empty
    with pytest.raises(NotFoundError):
        st.set_violation_status("nope", "confirmed", comment="", actor="a")


def _as_version_1(store: DuckDBStore) -> None:
    """Give a new DuckDB store the evaluation tables of schema version 1 (primary keys)."""
    store.con.execute(
        "DROP TABLE event_eval; DROP TABLE incidents; DROP TABLE incident_members;"
        "CREATE TABLE event_eval (event_id TEXT NOT NULL, content_sha TEXT NOT NULL, "
        "agreement_version INTEGER NOT NULL, distance_to_line_km DOUBLE, side TEXT, "
        "zone TEXT, sector TEXT, PRIMARY KEY (event_id));"
        "CREATE TABLE incidents (incident_id TEXT PRIMARY KEY, occurred_at TIMESTAMPTZ, "
        "time_precision TEXT, lon DOUBLE, lat DOUBLE, geo_precision_m DOUBLE, category TEXT, "
        "categories TEXT, weapon_class TEXT, weapon_classes TEXT, n_events INTEGER, "
        "n_sources INTEGER, sources TEXT, confidence DOUBLE, fatalities DOUBLE, "
        "attributed_to TEXT, location_name TEXT, agreement_version INTEGER, "
        "distance_to_line_km DOUBLE, side TEXT, zone TEXT, sector TEXT, updated_at TIMESTAMPTZ);"
        "CREATE TABLE incident_members (event_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL);"
    )


def test_evaluation_results_on_a_version_1_store(tmp_path: Path) -> None:
    """A store made before the evaluation tables lost their primary keys is written the
    same way (delete, then insert, in one transaction: no key is met twice)."""
    store = open_store(tmp_path / "v1.duckdb")
    assert isinstance(store, DuckDBStore)
    _as_version_1(store)
    try:
        test_evaluation_results(store)
    finally:
        store.close()


def test_evaluation_writes_refuse_a_key_named_twice(tmp_path: Path) -> None:
    """Without a primary key the writer checks its rows: a repeated key is refused and
    nothing of that write is stored."""
    store = open_store(tmp_path / "dup.duckdb")
    assert isinstance(store, DuckDBStore)
    try:
        store.put_event_eval(_eval_frame(["e1"]))
        with pytest.raises(ValueError, match="event_id value"):
            store.put_event_eval(_eval_frame(["e2", "e2"]))
        assert store.event_eval()["event_id"].tolist() == ["e1"]
        members = pd.DataFrame({"event_id": ["e1", "e1"], "incident_id": ["I1", "I2"]})
        with pytest.raises(ValueError, match="incident members"):
            store.replace_incidents(pd.Series(["e1"]), _incidents(["I1", "I2"]), members)
        with pytest.raises(ValueError, match="incidents"):
            store.replace_incidents(
                pd.Series(["e1"]),
                _incidents(["I1", "I1"]),
                pd.DataFrame({"event_id": ["e1"], "incident_id": ["I1"]}),
            )
        assert store.incidents().empty and store.incident_members().empty
        assert store.schema_version() == 3
    finally:
        store.close()


def _constraints(store: DuckDBStore, table: str) -> list[str]:
    return [
        str(r[0])
        for r in store.con.execute(
            "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = ?", [table]
        ).fetchall()
    ]


def test_events_looked_up_by_id_through_an_index(tmp_path: Path) -> None:
    """Schema 3: ``events`` has no primary key (it was built and written at every commit,
    and a key of (event_id, version) is not searched by event_id alone) but an index on
    ``event_id``, which a lookup by id uses."""
    store = open_store(tmp_path / "s3.duckdb")
    assert isinstance(store, DuckDBStore)
    try:
        assert "PRIMARY KEY" not in _constraints(store, "events")
        indexes = store.con.execute(
            "SELECT index_name, expressions FROM duckdb_indexes() WHERE table_name = 'events'"
        ).fetchall()
        assert indexes == [("events_event_id", "[event_id]")]
        store.add_events(_events(100), batch_id=_batch(store), recorded_at=T0)
        one = store.events(columns=["event_id"])["event_id"].iloc[7]
        query = "SELECT version FROM events WHERE event_id = ?"
        plan = store.con.execute("EXPLAIN ANALYZE " + query, [one]).fetchall()
        assert "Type: Index Scan" in str(plan)
        assert store.con.execute(query, [one]).fetchall() == [(1,)]
    finally:
        store.close()


@pytest.mark.parametrize("n", [3, 100])  # a few rows, and more than SMALL_BATCH_ROWS
def test_add_events_refuses_a_record_named_twice(tmp_path: Path, n: int) -> None:
    """Without the key, the writer refuses two rows of one record (both would be stored as
    its next version); nothing of that write is stored."""
    store = open_store(tmp_path / "twice.duckdb")
    assert isinstance(store, DuckDBStore)
    try:
        b = _batch(store)
        ev = _events(n)
        with pytest.raises(ValueError, match="event_id value"):
            store.add_events(
                pd.concat([ev, ev.iloc[[n - 1]]], ignore_index=True), batch_id=b, recorded_at=T0
            )
        assert store.count_events() == 0
        assert store.add_events(ev, batch_id=b, recorded_at=T0)["loaded"] == n
    finally:
        store.close()


def test_a_result_left_open_does_not_block_a_write(tmp_path: Path) -> None:
    """A ``fetchone()`` leaves DuckDB's result open, which blocks registering a frame;
    the store closes it before each of its registrations."""
    store = open_store(tmp_path / "open.duckdb")
    assert isinstance(store, DuckDBStore)
    try:
        b = _batch(store)
        assert store.con.execute("SELECT * FROM range(3)").fetchone() == (0,)
        assert store.add_events(_events(100), batch_id=b, recorded_at=T0)["loaded"] == 100
    finally:
        store.close()


def _as_version_2(store: DuckDBStore) -> None:
    """Give a new DuckDB store the ``events`` table of schema versions 1 and 2 (a primary
    key, no index)."""
    ddl = store.con.execute(
        "SELECT sql FROM duckdb_tables() WHERE table_name = 'events'"
    ).fetchall()[0][0]
    store.con.execute("DROP INDEX events_event_id; DROP TABLE events")
    store.con.execute(
        ddl.rstrip().rstrip(";").removesuffix(")") + ", PRIMARY KEY (event_id, version))"
    )
    store.con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def test_events_on_a_version_2_store(tmp_path: Path) -> None:
    """A store made before ``events`` lost its key keeps it, gets no index when opened
    again, and stores versions the same way."""
    path = tmp_path / "v2.duckdb"
    store = open_store(path)
    assert isinstance(store, DuckDBStore)
    _as_version_2(store)
    store.close()
    store = open_store(path)
    assert isinstance(store, DuckDBStore)
    try:
        assert store.schema_version() == 2
        assert "PRIMARY KEY" in _constraints(store, "events")
        assert not store.con.execute(
            "SELECT * FROM duckdb_indexes() WHERE table_name = 'events'"
        ).fetchall()
        test_event_versions_and_as_of(store)
    finally:
        store.close()


def test_transaction_rolls_back(st: AnyStore) -> None:
    with pytest.raises(RuntimeError), st.transaction():
        b = _batch(st)
        st.add_events(_events(2), batch_id=b, recorded_at=T0)
        raise RuntimeError("boom")
    assert st.count_events() == 0
    assert st.batches().empty


# --- component tables ----------------------------------------------------------------------
def test_audit_chain(st: AnyStore) -> None:
    from ceasewatch.store.audit import append_audit, chain_head, verify_chain

    for i in range(3):
        append_audit(st, actor="t", action="x.y", entity="e", entity_id=str(i), payload={"i": i})
    assert verify_chain(st).ok
    head = chain_head(st)
    assert head is not None and head[0] == 3
    st.con.execute("UPDATE audit_log SET payload = ? WHERE seq = 2", ['{"i":9}'])
    check = verify_chain(st)
    assert not check.ok and check.first_bad_seq == 2


def test_users_and_tokens(st: AnyStore) -> None:
    from ceasewatch.store import auth

    user = auth.add_user(st, "ana", "analyst", actor="t")
    with pytest.raises(auth.DuplicateUserError):
        auth.add_user(st, "ana", "observer", actor="t")
    issued = auth.issue_token(st, "ana", actor="t")
    assert auth.authenticate(st, issued.token) == user
    assert auth.authenticate(st.con, issued.token) == user
    auth.update_user(st, "ana", actor="t", role="admin")
    assert auth.get_user(st, user.user_id).role == "admin"
    auth.revoke_token(st, issued.token_id, actor="t")
    assert auth.authenticate(st, issued.token) is None
    assert [t.token_id for t in auth.list_tokens(st, user.user_id)] == [issued.token_id]
    assert [u.name for u in auth.list_users(st)] == ["ana"]


def test_decisions(st: AnyStore) -> None:
    from ceasewatch.store.decisions import has_decisions_table, list_decisions, record_decision

    with st.transaction():
        d = record_decision(
            st, "split", event_ids=["e1"], incident_ids=["I1"], actor="a", comment="c"
        )
    assert has_decisions_table(st.con)
    got = list_decisions(st.con, incident_id="I1")
    assert [x.decision_id for x in got] == [d.decision_id]
    assert got[0].event_ids == ("e1",)


def test_guarantee_ledger(st: AnyStore) -> None:
    from ceasewatch.guarantee import schema as gs
    from ceasewatch.store import guarantee as sg

    table = next(iter(gs.LEDGER_TABLES))
    spec = gs.LEDGER_TABLES[table]
    record = {f.name: None for f in spec.fields}
    record[spec.key] = "K1"
    for f in spec.fields:
        if f.required and record[f.name] is None:
            record[f.name] = f.choices[0] if f.choices else ("x" if f.kind == "text" else None)
    assert sg.put_record(st, table, record, actor="t") == "added"
    assert sg.put_record(st, table, record, actor="t") == "unchanged"
    assert sg.get_record(st, table, "K1") is not None
    assert len(sg.ledger_table(st, table)) == 1
    assert sg.verify_ledger_log(st) == []
    assert len(sg.ledger_log(st)) == 1
    b = _batch(st, sha="kiel")
    st.finish_batch(b, {})
    frame = pd.DataFrame({"line_no": [2, 3], "value": [1.5, 2.5], "name": ["a", "b"]})
    assert sg.put_dataset(st, "air_attacks", frame, batch_id=b) == 2
    got = sg.dataset(st, "air_attacks")
    assert got["name"].tolist() == ["a", "b"]


def test_alerts_and_clocks(st: AnyStore) -> None:
    from ceasewatch.store.alerts import AlertStore

    a = AlertStore(st)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    a.record_warning("c1", 24.0, at=now)
    a.record_warning("c1", 24.0, at=now)
    assert a.warned("c1") == {24.0}
    a.set_state("k", {"x": 1}, now=now)
    a.set_state("k", {"x": 2}, now=now)
    assert a.get_state("k") == {"x": 2}
    a.log_clock("c1", "opened", at=now, actor=None, note="n")
    assert len(a.clock_log("c1")) == 1
    assert a.violations_known(now=now).empty
    assert a.outbox().empty


def test_fire_classes(st: AnyStore) -> None:
    from ceasewatch.store import fires

    assert fires.fire_classes(st).empty
    rows = pd.DataFrame(
        {
            "event_id": ["f1", "f2"],
            "war_probability": [0.9, 0.1],
            "war_related": [True, False],
            "model_version": "m",
            "classified_at": datetime(2024, 1, 1, tzinfo=UTC),
            "baseline_until": datetime(2023, 1, 1, tzinfo=UTC),
            "observed_window": 1.0,
            "expected_window": 0.5,
            "upper_window": 2.0,
            "surprise_cell": 1.0,
            "surprise_block": 1.0,
            "persistence_days": np.int32(1),
            "distance_to_line_km": 3.0,
        }
    )
    fires.put_fire_classes(st, rows)
    fires.put_fire_classes(st, rows.assign(war_probability=[0.8, 0.2]))
    got = fires.fire_classes(st)
    assert got["war_probability"].tolist() == [0.8, 0.2]
    assert fires.summary(st)["classified"] == 2


# --- both stores give the same frames ---------------------------------------------------------
def _script(store: AnyStore) -> None:
    with store.transaction():
        b = _batch(store)
        store.add_events(
            _events(
                4,
                raw=["a", "b", "c", "d"],
                fatalities=[np.nan, 1.0, 2.0, np.nan],
                line_no=[2, 3, None, 5],
                weapon_class=["mortar", None, None, "mlrs"],
                occurred_at=list(
                    pd.to_datetime(
                        [
                            "2023-06-01T12:00Z",
                            "2023-06-01T11:00Z",
                            "2023-06-03T00:00Z",
                            "2023-06-02T00:00Z",
                        ]
                    )
                ),
            ),
            batch_id=b,
            recorded_at=T0,
        )
        store.add_events(
            _events(2, raw=["a2", "b"]), batch_id=b, recorded_at=T0 + timedelta(days=1)
        )
        store.finish_batch(b, {"loaded": 4})
    store.add_agreement({"name": "A", "effective": T0, "sha256": "s", "document": {"k": 1}})
    store.put_event_eval(_eval_frame(["e00000", "e00001"]))
    store.replace_incidents(
        pd.Series(["e00000", "e00001"]),
        _incidents(["I1"]),
        pd.DataFrame({"event_id": ["e00000", "e00001"], "incident_id": ["I1", "I1"]}),
    )
    store.put_violations(_violations(["V1"], ["I1"]), incident_ids=pd.Series(["I1"]))


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c in WALL_CLOCK]).reset_index(drop=True)


@pytest.mark.parametrize(
    "read",
    [
        lambda s: s.events(),
        lambda s: s.events(with_raw=True, as_of=T0),
        lambda s: s.events(columns=["event_id", "credibility", "line_no"]),
        lambda s: s.events(since=datetime(2023, 6, 2, tzinfo=UTC)),
        lambda s: _utc(pd.concat(list(s.iter_events(chunk_rows=3)))),
        lambda s: s.batches(),
        lambda s: s.quarantine(),
        lambda s: s.agreements(),
        lambda s: s.evaluated_event_ids(),
        lambda s: s.event_eval(),
        lambda s: s.incidents(),
        lambda s: s.incident_members(),
        lambda s: s.violations(),
        lambda s: s.violations(include_inactive=True),
        lambda s: s.violation_statuses(),
    ],
    ids=[
        "events",
        "events_as_of",
        "events_columns",
        "events_since",
        "iter_events",
        "batches",
        "quarantine",
        "agreements",
        "evaluated_event_ids",
        "event_eval",
        "incidents",
        "incident_members",
        "violations",
        "violations_inactive",
        "violation_statuses",
    ],
)
def test_same_frames_on_both_stores(
    both: tuple[AnyStore, AnyStore], read: Callable[[AnyStore], pd.DataFrame]
) -> None:
    d, p = both
    _script(d)
    _script(p)
    fd, fp = _comparable(read(d)), _comparable(read(p))
    pd.testing.assert_frame_equal(fd, fp, check_exact=True)


# --- the CLI end to end on both stores ----------------------------------------------------------
def test_cli_ingest_evaluate_export_identical(tmp_path: Path) -> None:
    full = shared_file("events_acled", "ACLED-Ukraine.csv")
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    acled = tmp_path / "acled.csv"
    acled.write_text("".join(lines[:301]), encoding="utf-8")  # header + 300 rows
    write_agreement(tmp_path / "agr")
    with pg_schema() as url:
        exports: dict[str, dict[str, pd.DataFrame]] = {}
        for name, loc in (("duckdb", str(tmp_path / "e2e.duckdb")), ("postgis", url)):
            cli("agreement", "load", str(tmp_path / "agr"), "--store", loc)
            cli("ingest", "acled", str(acled), "--store", loc)
            cli("evaluate", "--store", loc)
            exports[name] = {}
            for what in ("events", "incidents", "violations"):
                out = tmp_path / f"{name}_{what}.csv"
                cli(what, "export", "-f", "csv", "-o", str(out), "--store", loc)
                exports[name][what] = _comparable(pd.read_csv(out))
            assert "intact" in cli("verify", "--store", loc).stdout
    for what in ("events", "incidents", "violations"):
        assert len(exports["duckdb"][what]) > 0
        pd.testing.assert_frame_equal(exports["duckdb"][what], exports["postgis"][what])


# --- PostGIS only: migrations, concurrency, a killed ingest, copy -------------------------------
def test_translate_placeholders() -> None:
    assert translate("SELECT ? WHERE x LIKE 'a%?' AND y = ?", [1, "b"]) == (
        "SELECT %s WHERE x LIKE 'a%%?' AND y = %s"
    )
    assert translate("SELECT ?", [[1, 2]]) == "SELECT %s::bigint[]"
    assert "DOUBLE PRECISION" in translate("CREATE TABLE t (a DOUBLE, b TINYINT)")
    with pytest.raises(StoreError):
        translate("SELECT ?", [])


def test_migrations_ordered_and_idempotent() -> None:
    shipped = migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert all(m.name and m.sql.strip() for m in shipped)
    with pg_schema() as url:
        st = PostGISStore(url)  # migrates on open
        try:
            assert migrate(st.con) == []
            rows = st.con.execute(
                "SELECT version, name FROM schema_migrations ORDER BY 1"
            ).fetchall()
            assert [(int(v), n) for v, n in rows] == [(m.version, m.name) for m in shipped]
            idx = st.con.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexdef LIKE '%gist%'"
            ).fetchall()
            assert {"events_geom", "incidents_geom", "violations_geom"} <= {r[0] for r in idx}
            # a tampered migration record is refused
            st.con.execute("UPDATE schema_migrations SET sha256 = 'x' WHERE version = 1")
            with pytest.raises(StoreError, match="differs"):
                migrate(st.con)
        finally:
            st.close()
        if _store_cli():  # mounted by the main CLI
            st2 = PostGISStore(url, auto_migrate=False)
            st2.con.execute("DELETE FROM schema_migrations WHERE version = 1")
            st2.close()


def _store_cli() -> bool:
    from ceasewatch.cli import app

    return any(g.name == "store" for g in app.registered_groups)


def _acled_halves(tmp_path: Path) -> tuple[Path, Path, int]:
    src = shared_file("events_acled", "ACLED-Ukraine.csv")
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    cut_a, cut_b = int(len(rows) * 0.7), int(len(rows) * 0.3)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(header + "".join(rows[:cut_a]), encoding="utf-8")
    b.write_text(header + "".join(rows[cut_b:]), encoding="utf-8")
    return a, b, len(rows)


def test_two_processes_ingest_at_once(tmp_path: Path) -> None:
    a, b, _ = _acled_halves(tmp_path)
    with pg_schema() as url:
        PostGISStore(url).close()  # migrated before the race
        cmd = [sys.executable, "-m", "ceasewatch.cli", "ingest", "acled"]
        procs = [
            subprocess.Popen([*cmd, str(f), "--store", url], stderr=subprocess.PIPE, text=True)
            for f in (a, b)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        st = PostGISStore(url)
        try:
            dup = st.con.execute(
                "SELECT count(*) FROM (SELECT event_id FROM events GROUP BY event_id "
                "HAVING count(*) > 1) d"
            ).fetchone()
            assert dup == (0,)  # the shared rows are identical: one version each
            reference = DuckDBStore(tmp_path / "ref.duckdb")
            from ceasewatch.ingest.base import get_source
            from ceasewatch.ingest.pipeline import ingest_file

            for f in (a, b):
                ingest_file(reference, get_source("acled"), f)
            assert st.count_events() == reference.count_events()
            assert set(st.events()["event_id"]) == set(reference.events()["event_id"])
            reference.close()
            batches = st.batches()
            assert batches["status"].tolist() == ["done", "done"]
            loaded = batches["rows_loaded"].sum() + batches["rows_unchanged"].sum()
            assert loaded == sum(len(f.read_text().splitlines()) - 1 for f in (a, b))
            from ceasewatch.store.audit import verify_chain

            check = verify_chain(st)
            assert check.ok and check.message.startswith("audit chain intact: 2")
        finally:
            st.close()


def test_killed_ingest_leaves_nothing(tmp_path: Path) -> None:
    firms = shared_file("firms", "fire_nrt_SV-C2_400448.csv")
    with pg_schema() as url:
        PostGISStore(url).close()
        env = dict(os.environ)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ceasewatch.cli", "ingest", "firms", str(firms), "--store", url],
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={**env, "PGAPPNAME": "cw-kill-placeholder"},
        )
        # wait until it is writing events (it holds the events lock, mid-batch), then kill -9
        deadline = time.monotonic() + 120
        st = PostGISStore(url)
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                row = st.con.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid <> pg_backend_pid() AND objid::bigint = "
                    "(hashtext('ceasewatch:events')::bigint & 4294967295)"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.02)
            assert proc.poll() is None, "the ingest ended before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            # the server notices the dead client and rolls its transaction back
            for _ in range(200):
                row = st.con.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state IS NOT NULL "
                    "AND application_name = 'cw-kill-placeholder'"
                ).fetchone()
                if row == (0,):
                    break
                time.sleep(0.05)
            assert st.count_events() == 0
            assert st.batches().empty
            assert st.quarantine().empty
            from ceasewatch.store.audit import verify_chain

            assert verify_chain(st).message.startswith("audit chain intact: 0")
        finally:
            st.close()
        # the same file loads completely afterwards
        cli("ingest", "firms", str(firms), "--store", url)
        st = PostGISStore(url)
        try:
            assert st.batches()["status"].tolist() == ["done"]
            assert st.count_events() > 40_000
        finally:
            st.close()


def test_store_copy_round_trip(tmp_path: Path) -> None:
    from ceasewatch.store import auth
    from ceasewatch.store.audit import append_audit, verify_chain
    from ceasewatch.store.transfer import copy_store, list_tables

    origin = DuckDBStore(tmp_path / "origin.duckdb")
    _script(origin)
    auth.add_user(origin, "ana", "analyst", actor="t")
    append_audit(origin, actor="t", action="x", entity="e", entity_id="1", payload={"ü": 1})
    origin.set_violation_status("V1", "confirmed", comment="c", actor="a")
    pg_url_or_skip()
    with pg_schema() as url:
        team = PostGISStore(url)
        back = DuckDBStore(tmp_path / "back.duckdb")
        try:
            copy_store(origin, team)
            assert verify_chain(team).ok
            with pytest.raises(StoreError, match="not empty"):
                copy_store(origin, team)
            copy_store(team, back)
            assert verify_chain(back).ok
            for name in list_tables(origin):
                a = origin.con.execute(f'SELECT * FROM "{name}"').df()
                b = back.con.execute(f'SELECT * FROM "{name}"').df()
                key = list(a.columns)
                pd.testing.assert_frame_equal(
                    a.sort_values(key).reset_index(drop=True),
                    b.sort_values(key).reset_index(drop=True),
                    obj=name,
                )
            # the copies keep working: new batches continue the ids
            with team.transaction():
                assert _batch(team, sha="next") == int(origin.batches()["batch_id"].max()) + 1
            assert auth.get_user(back, "ana").role == "analyst"
        finally:
            team.close()
            back.close()
            origin.close()


def test_percent_in_sql_without_parameters(st: AnyStore) -> None:
    """A literal ``%`` in a statement run without parameters means modulo/LIKE, not a
    placeholder, on both engines."""
    assert st.con.execute("SELECT 7 % 3").fetchone()[0] == 1
    assert st.con.execute("SELECT 'a%b' LIKE 'a%'").fetchone()[0] is True


def test_duckdb_arrow_read_gives_the_frames_of_df(tmp_path: Path) -> None:
    """The DuckDB store reads large results through Arrow: the frame must be the one
    ``.df()`` gives, dtypes included (nullable integers and booleans, text with no
    value as objects)."""
    from ceasewatch.store.duckdb import DuckDBStore

    st = DuckDBStore(tmp_path / "arrow.duckdb")
    try:
        st.con.execute(
            "CREATE TABLE x AS SELECT * FROM (VALUES "
            "(1::TINYINT, 3::INTEGER, 4::BIGINT, 'a', NULL::VARCHAR, 1.5::DOUBLE, true, "
            "TIMESTAMPTZ '2023-06-01 12:00:00+00'), "
            "(NULL, NULL, 5, NULL, NULL, NULL, NULL, NULL)) t(a, c, d, s, n, g, h, ts)"
        )
        for sql in (
            "SELECT * FROM x",
            "SELECT * FROM x WHERE d = 4",
            "SELECT * FROM x LIMIT 0",
            # types Arrow converts otherwise: the .df() read is used
            "SELECT *, DATE '2023-06-01' AS day, 1.5::DECIMAL(4, 1) AS dec FROM x",
        ):
            pd.testing.assert_frame_equal(st._arrow_df(sql, []), st._df(sql, []))
    finally:
        st.close()
