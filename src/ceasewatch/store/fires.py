"""The fire model's tables in the store (DuckDB or PostGIS), and the runs that fill them.

* ``fire_baseline`` (cell, bin, expected, dispersion, dispersion_block, until): the normal
  fire activity of each 0.1° cell and day-of-year bin (see
  :mod:`ceasewatch.evaluate.fire_anomaly`); one baseline at a time, replaced whole.
* ``fire_baseline_meta``: its parameters, years and counts.
* ``fire_class`` (event_id, war_probability, war_related, model_version, classified_at, and
  the features behind the probability): one row per classified ``fire_detection`` event,
  replaced when the event is classified again.

:func:`fire_classes` is what other stages join: ``event_id, war_probability,
war_related``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from ceasewatch.errors import CeasewatchError, StoreError
from ceasewatch.evaluate.fire_anomaly import (
    MODEL_VERSION,
    Baseline,
    FireModelParams,
    classify_detections,
    day_number,
    fit_baseline,
)
from ceasewatch.store.base import Store

FIRE_CATEGORY: Final = "fire_detection"

_DDL = """
CREATE TABLE IF NOT EXISTS fire_baseline (
    cell BIGINT NOT NULL, bin INTEGER NOT NULL, expected DOUBLE PRECISION NOT NULL,
    dispersion DOUBLE PRECISION NOT NULL, dispersion_block DOUBLE PRECISION NOT NULL,
    until TIMESTAMPTZ NOT NULL, PRIMARY KEY (cell, bin)
);
CREATE TABLE IF NOT EXISTS fire_baseline_meta (
    until TIMESTAMPTZ NOT NULL, model_version TEXT NOT NULL, params TEXT NOT NULL,
    years TEXT NOT NULL, n_detections BIGINT, n_pixel_days BIGINT, n_rows BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS fire_class (
    event_id TEXT PRIMARY KEY, war_probability DOUBLE PRECISION NOT NULL,
    war_related BOOLEAN NOT NULL, model_version TEXT NOT NULL,
    classified_at TIMESTAMPTZ NOT NULL, baseline_until TIMESTAMPTZ,
    observed_window DOUBLE PRECISION, expected_window DOUBLE PRECISION,
    upper_window DOUBLE PRECISION, surprise_cell DOUBLE PRECISION,
    surprise_block DOUBLE PRECISION, persistence_days INTEGER,
    distance_to_line_km DOUBLE PRECISION
);
"""

FIRE_CLASS_COLUMNS: Final = ("event_id", "war_probability", "war_related")

#: the columns of the ``fire_class`` table, in order
_FIRE_CLASS_TABLE_COLUMNS: Final = (
    "event_id",
    "war_probability",
    "war_related",
    "model_version",
    "classified_at",
    "baseline_until",
    "observed_window",
    "expected_window",
    "upper_window",
    "surprise_cell",
    "surprise_block",
    "persistence_days",
    "distance_to_line_km",
)


def _con(store: Store) -> Any:
    """The store's SQL connection (DuckDB's, or the PostGIS store's adapter)."""
    con = getattr(store, "con", None)
    if con is None or not callable(getattr(con, "execute", None)):
        msg = f"the fire model needs a SQL store; {store.location!r} is not one"
        raise StoreError(msg)
    return con


def _has_table(con: Any, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_type = 'BASE TABLE' AND table_schema = current_schema()",
        [name],
    ).fetchone()
    return bool(row and row[0])


#: the current version of each event (standard SQL: both stores run it)
_CURRENT_EVENTS = (
    "SELECT event_id, occurred_at, lon, lat, category FROM (SELECT event_id, occurred_at, "
    "lon, lat, category, row_number() OVER (PARTITION BY event_id ORDER BY version DESC) "
    "AS _rn FROM events) ev WHERE _rn = 1"
)


def ensure_tables(store: Store) -> None:
    """Create the fire tables when missing (idempotent)."""
    _con(store).execute(_DDL)


def _utc(moment: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def fire_detections(
    store: Store,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Current ``fire_detection`` events: event_id, occurred_at, lon, lat, day (UTC day
    number), in [since, until)."""
    con = _con(store)
    lo = None if since is None else _utc(since).to_pydatetime()
    hi = None if until is None else _utc(until).to_pydatetime()
    frame = con.execute(
        f"SELECT event_id, occurred_at, lon, lat FROM ({_CURRENT_EVENTS}) cur "
        "WHERE category = ? AND (? IS NULL OR occurred_at >= ?) "
        "AND (? IS NULL OR occurred_at < ?) ORDER BY occurred_at, event_id",
        [FIRE_CATEGORY, lo, lo, hi, hi],
    ).df()
    frame["day"] = day_number(frame["occurred_at"]) if len(frame) else np.empty(0, np.int64)
    return frame


# --- baseline ----------------------------------------------------------------------------
def put_baseline(store: Store, baseline: Baseline) -> int:
    """Replace the stored baseline; returns the number of rows written."""
    con = _con(store)
    ensure_tables(store)
    rows = baseline.to_frame()
    rows["until"] = baseline.until.to_pydatetime()
    with store.transaction():
        con.execute("DELETE FROM fire_baseline")
        con.execute("DELETE FROM fire_baseline_meta")
        con.register("_fb", rows)
        try:
            con.execute(
                "INSERT INTO fire_baseline SELECT cell, bin, expected, dispersion, "
                "dispersion_block, until FROM _fb"
            )
        finally:
            con.unregister("_fb")
        con.execute(
            "INSERT INTO fire_baseline_meta VALUES (?,?,?,?,?,?,?,?)",
            [
                baseline.until.to_pydatetime(),
                MODEL_VERSION,
                baseline.params.to_json(),
                json.dumps({str(k): v for k, v in baseline.exposure_days.items()}),
                baseline.n_detections,
                baseline.n_pixel_days,
                len(rows),
                datetime.now(UTC),
            ],
        )
    return len(rows)


def load_baseline(store: Store) -> Baseline | None:
    """The stored baseline, or None when none was fitted."""
    con = _con(store)
    if not _has_table(con, "fire_baseline_meta"):
        return None
    meta = con.execute("SELECT * FROM fire_baseline_meta LIMIT 1").df()
    if meta.empty:
        return None
    m = meta.iloc[0]
    params = FireModelParams.from_json(str(m["params"]))
    frame = con.execute(
        "SELECT cell, bin, expected, dispersion, dispersion_block FROM fire_baseline"
    ).df()
    exposure = {int(k): int(v) for k, v in json.loads(str(m["years"])).items()}
    return Baseline.from_frame(
        frame,
        until=_utc(m["until"]),
        params=params,
        years=tuple(sorted(exposure)),
        n_detections=int(m["n_detections"]),
        n_pixel_days=int(m["n_pixel_days"]),
        exposure_days=exposure,
    )


def baseline_frame(store: Store) -> pd.DataFrame:
    """The ``fire_baseline`` rows (empty when none)."""
    con = _con(store)
    if not _has_table(con, "fire_baseline"):
        return pd.DataFrame(
            columns=["cell", "bin", "expected", "dispersion", "dispersion_block", "until"]
        )
    return con.execute("SELECT * FROM fire_baseline ORDER BY cell, bin").df()


@dataclass
class BaselineResult:
    until: pd.Timestamp
    years: tuple[int, ...]
    n_detections: int
    n_pixel_days: int
    rows: int
    seconds: float
    fit_seconds: float

    @property
    def detections_per_s(self) -> float:
        return self.n_detections / self.seconds if self.seconds > 0 else float("nan")


def run_baseline(
    store: Store,
    until: datetime | str | pd.Timestamp,
    *,
    params: FireModelParams | None = None,
) -> BaselineResult:
    """Fit the normal-activity model on the stored detections before ``until`` and store
    it (replacing any earlier one)."""
    t0 = time.perf_counter()
    until_ts = _utc(until)
    det = fire_detections(store, until=until_ts)
    if det.empty:
        msg = (
            f"no fire detections before {until_ts.isoformat()} in the store: load FIRMS files "
            "with `ceasewatch ingest firms` first"
        )
        raise CeasewatchError(msg)
    t1 = time.perf_counter()
    baseline = fit_baseline(
        det["lat"].to_numpy(), det["lon"].to_numpy(), det["day"].to_numpy(), until_ts, params=params
    )
    fit_s = time.perf_counter() - t1
    rows = put_baseline(store, baseline)
    return BaselineResult(
        until_ts,
        baseline.years,
        baseline.n_detections,
        baseline.n_pixel_days,
        rows,
        time.perf_counter() - t0,
        fit_s,
    )


# --- classification ----------------------------------------------------------------------
def put_fire_classes(store: Store, frame: pd.DataFrame) -> None:
    """Insert or replace classification rows (columns of the ``fire_class`` table)."""
    if frame.empty:
        return
    con = _con(store)
    ensure_tables(store)
    cols = list(_FIRE_CLASS_TABLE_COLUMNS)
    con.register("_fc", frame[cols])
    try:
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "event_id")
        con.execute(
            f"INSERT INTO fire_class ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _fc "
            f"ON CONFLICT (event_id) DO UPDATE SET {updates}"
        )
    finally:
        con.unregister("_fc")


def fire_classes(store: Store) -> pd.DataFrame:
    """``event_id, war_probability, war_related`` of every classified fire detection (empty
    when none): the frame to left-join on ``event_id`` into exports and evaluation."""
    con = _con(store)
    if not _has_table(con, "fire_class"):
        return pd.DataFrame(
            {
                "event_id": pd.Series([], dtype=object),
                "war_probability": pd.Series([], dtype=float),
                "war_related": pd.Series([], dtype=bool),
            }
        )
    return con.execute(
        "SELECT event_id, war_probability, war_related FROM fire_class ORDER BY event_id"
    ).df()


def fire_class_table(
    store: Store,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Classified detections joined with their time and place, for reports."""
    con = _con(store)
    if not _has_table(con, "fire_class"):
        return pd.DataFrame(
            columns=["event_id", "occurred_at", "lon", "lat", "war_probability", "war_related"]
        )
    lo = None if since is None else _utc(since).to_pydatetime()
    hi = None if until is None else _utc(until).to_pydatetime()
    rest = ", ".join(f"c.{c}" for c in _FIRE_CLASS_TABLE_COLUMNS if c != "event_id")
    return con.execute(
        f"SELECT e.event_id, e.occurred_at, e.lon, e.lat, {rest} FROM fire_class c "
        f"JOIN ({_CURRENT_EVENTS}) e USING (event_id) "
        "WHERE (? IS NULL OR e.occurred_at >= ?) AND (? IS NULL OR e.occurred_at < ?) "
        "ORDER BY e.occurred_at, e.event_id",
        [lo, lo, hi, hi],
    ).df()


def distances_to_line_km(store: Store, frame: pd.DataFrame) -> np.ndarray:
    """Distance (km) from each detection to the line of contact of the agreement version in
    force at its time; NaN everywhere when no agreement is stored."""
    from ceasewatch.agreement.geometry import ZoneModel
    from ceasewatch.evaluate.run import applicable_version, load_agreements
    from ceasewatch.evaluate.zones import distance_to_line_m

    out = np.full(len(frame), np.nan)
    if frame.empty or store.agreements().empty:
        return out
    agreements = load_agreements(store)
    versions = applicable_version(frame["occurred_at"], agreements)
    for v in np.unique(versions):
        sel = versions == v
        model = ZoneModel(agreements[int(v)])
        out[sel] = (
            distance_to_line_m(frame["lon"].to_numpy()[sel], frame["lat"].to_numpy()[sel], model)
            / 1_000.0
        )
    return out


@dataclass
class ClassifyResult:
    classified: int = 0
    war_related: int = 0
    context: int = 0
    with_line: bool = False
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    seconds: float = 0.0
    model_seconds: float = 0.0
    distance_seconds: float = 0.0
    by_month: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def detections_per_s(self) -> float:
        return self.classified / self.seconds if self.seconds > 0 else float("nan")


def run_classify(
    store: Store,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    params: FireModelParams | None = None,
    use_line: bool = True,
) -> ClassifyResult:
    """Classify every stored detection from ``since`` (default: the baseline's end; never
    earlier) to ``until`` (default: the last) and store the result.

    The detections ``persistence_days`` + 3 days either side are read as context. With an
    agreement stored (and ``use_line``), the distance to its line of contact is the
    proximity prior.
    """
    t0 = time.perf_counter()
    baseline = load_baseline(store)
    if baseline is None:
        msg = "no fire baseline in the store: run `ceasewatch fires baseline --until DATE` first"
        raise CeasewatchError(msg)
    p = params or baseline.params
    start = baseline.until if since is None else max(_utc(since), baseline.until)
    end = None if until is None else _utc(until)
    margin = pd.Timedelta(days=p.persistence_days + p.half_window + 1)
    ctx = fire_detections(store, since=start - margin, until=None if end is None else end + margin)
    target = (ctx["occurred_at"] >= start).to_numpy().copy()
    if end is not None:
        target &= (ctx["occurred_at"] < end).to_numpy()
    result = ClassifyResult(context=len(ctx), since=start, until=end)
    if not target.any():
        result.seconds = time.perf_counter() - t0
        return result
    td = time.perf_counter()
    dist = np.full(len(ctx), np.nan)
    if use_line:
        dist[target] = distances_to_line_km(store, ctx[target])
        result.with_line = bool(np.isfinite(dist[target]).any())
    result.distance_seconds = time.perf_counter() - td
    tm = time.perf_counter()
    feats = classify_detections(
        baseline,
        ctx["lat"].to_numpy(),
        ctx["lon"].to_numpy(),
        ctx["day"].to_numpy(),
        target=target,
        distance_km=dist,
        params=p,
    )
    result.model_seconds = time.perf_counter() - tm
    rows = feats.assign(
        event_id=ctx.loc[target, "event_id"].to_numpy(),
        model_version=MODEL_VERSION,
        classified_at=datetime.now(UTC),
        baseline_until=baseline.until.to_pydatetime(),
    )
    rows["persistence_days"] = rows["persistence_days"].astype("int32")
    with store.transaction():
        put_fire_classes(store, rows)
    result.classified = len(rows)
    result.war_related = int(rows["war_related"].sum())
    month = ctx.loc[target, "occurred_at"].dt.strftime("%Y-%m").to_numpy()
    g = pd.DataFrame({"m": month, "w": rows["war_related"].to_numpy()}).groupby("m")["w"]
    result.by_month = {
        str(k): (int(s), int(n)) for k, s, n in zip(g.sum().index, g.sum(), g.size(), strict=True)
    }
    result.seconds = time.perf_counter() - t0
    return result


def summary(store: Store) -> dict[str, Any]:
    """What the store holds of the fire model (for `fires status`-like messages)."""
    con = _con(store)
    out: dict[str, Any] = {"baseline": None, "classified": 0, "war_related": 0}
    if _has_table(con, "fire_baseline_meta"):
        meta = con.execute("SELECT * FROM fire_baseline_meta").df()
        if not meta.empty:
            out["baseline"] = meta.iloc[0].to_dict()
    if _has_table(con, "fire_class"):
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE war_related) FROM fire_class"
        ).fetchone()
        if row:
            out["classified"], out["war_related"] = int(row[0]), int(row[1])
    return out
