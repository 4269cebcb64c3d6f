"""The current version of each event, as of any time: the DuckDB store ranks only the
events that have more than one version; the result must be what ranking every event
gives (the plain window query, written out here as the oracle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ceasewatch.store.duckdb import DuckDBStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)

ORACLE = (
    "SELECT event_id, version FROM events WHERE (?::TIMESTAMPTZ IS NULL OR recorded_at <= ?) "
    "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY version DESC) = 1"
)

# per event: the hours (after T0) at which its versions 1, 2, … were recorded
HISTORY = st.lists(
    st.lists(st.integers(0, 48), min_size=1, max_size=4).map(sorted), min_size=1, max_size=25
)


@settings(max_examples=40, deadline=None)
@given(history=HISTORY, as_of_h=st.one_of(st.none(), st.integers(-1, 50)))
def test_current_versions_match_ranking_every_event(
    tmp_path_factory, history: list[list[int]], as_of_h: int | None
) -> None:
    path: Path = tmp_path_factory.mktemp("cur") / "s.duckdb"
    store = DuckDBStore(str(path))
    try:
        rows = [
            (f"e{k}", v + 1, T0 + timedelta(hours=h))
            for k, hours in enumerate(history)
            for v, h in enumerate(hours)
        ]
        store.con.executemany(
            "INSERT INTO events (event_id, version, content_sha, source, source_event_id, "
            "occurred_at, time_precision, time_window_s, lon, lat, geo_precision_m, category, "
            "count, reliability, credibility, report_group, raw, batch_id, recorded_at) "
            "VALUES (?, ?, 's', 'x', ?, ?, 'day', 0, 30, 48, 1, 'shelling', 1, 'C', 3, 'g', "
            "'{}', 1, ?)",
            [(e, v, e, T0, at) for e, v, at in rows],
        )
        as_of = None if as_of_h is None else T0 + timedelta(hours=as_of_h)
        sql, params = store._current_events_sql("event_id, version", as_of)
        got = store.con.execute(f"SELECT * FROM ({sql}) ORDER BY event_id", params).fetchall()
        want = store.con.execute(f"SELECT * FROM ({ORACLE}) ORDER BY event_id", [as_of] * 2)
        assert got == want.fetchall()
        # and through the public reader, with the rest of the columns
        frame = store.events(as_of=as_of)
        assert sorted(zip(frame["event_id"], frame["version"], strict=True)) == sorted(got)
    finally:
        store.close()
