"""The evaluation on a Dask cluster: the same pure functions, per partition.

Two kinds of work, two ways of splitting it:

- **per event** (distance to the line, side, zone band, sector, agreement version): each
  partition on its own (``map_partitions``), with the zone models shipped to every worker
  once (``Client.scatter(..., broadcast=True)``), not with every task;
- **corroboration and the rules**: links are local in time (no linkable record spans more
  than ``max_time_span_s``), and almost every incident spans far less than a halo, so the
  time axis is cut into *cores* and each core evaluated with a *halo* of :func:`halo_s`
  before and after it. Each incident belongs to the window whose core holds its earliest
  member (``occurred_at``), so the union of the windows' incidents covers every event once.
  A chain of precise records may in principle outrun the halo (precise records join by
  connected components); the stitch check below catches that and merges the windows.

The stitch is then checked, not assumed: every event must belong to exactly one owned
incident, and every owned incident that lies wholly inside a neighbouring window must have
been found there with the same members. A window that disagrees with its neighbour is
merged with it and the merged window evaluated again, so the result is the single-machine
result (the tests compare both on data crossing many window edges and on the demo).

Corroboration measures distances and places incidents on the WGS84 ellipsoid, not in a
CRS fitted to its input's box, so a window's incidents do not depend on what else the
input holds (tested in tests/evaluate/test_corroborate_invariants.py).

Inputs: events held in memory (the store path, :func:`evaluate_store_dask`) or a
directory of (Geo)Parquet files of events in the canonical columns, one file per day or
per N rows (:func:`write_partitioned_events`, :func:`evaluate_directory`).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.corroborate import CorroborationParams
from ceasewatch.evaluate.decisions import IncidentDecision
from ceasewatch.evaluate.run import (
    _EVENT_COLS,
    EvaluationFrames,
    EvaluationResult,
    _decisions,
    _keep_anchors,
    _with_fire_classes,
    applicable_version,
    incidents_and_violations,
    load_agreements,
    write_evaluation,
)
from ceasewatch.evaluate.zones import FAST_MIN_EVENTS, evaluate_zones
from ceasewatch.normalize import schema
from ceasewatch.normalize.timeprec import time_bounds
from ceasewatch.store.base import Store

DAY_S = 86_400.0
#: the core of a corroboration window (the halo comes on top, on both sides)
DEFAULT_WINDOW_DAYS = 28.0

#: columns an events directory must hold (the rest are filled in when absent)
REQUIRED_COLUMNS = (
    schema.EVENT_ID,
    schema.SOURCE,
    schema.OCCURRED_AT,
    schema.TIME_PRECISION,
    schema.LON,
    schema.LAT,
    schema.GEO_PRECISION_M,
    schema.CATEGORY,
    schema.RELIABILITY,
    schema.CREDIBILITY,
    schema.REPORT_GROUP,
)
#: optional columns and the value they take when absent
OPTIONAL_COLUMNS: dict[str, Any] = {
    schema.SOURCE_EVENT_ID: None,
    schema.TIME_WINDOW_S: 0.0,
    schema.WEAPON_CLASS: None,
    schema.ATTRIBUTED_TO: None,
    schema.FATALITIES: np.nan,
    schema.LOCATION_NAME: None,
    schema.RECORDED_AT: None,
}
ZONE_COLUMNS = (
    schema.DISTANCE_TO_LINE_KM,
    schema.SIDE,
    schema.ZONE,
    schema.SECTOR,
    schema.AGREEMENT_VERSION,
)


def halo_s(params: CorroborationParams) -> float:
    """Seconds of events evaluated on each side of a window's core.

    Two members of an incident can be apart by at most one record's span
    (``max_time_span_s``; a week-precision record is centred on its week), the tolerance
    and a fire's lead; the halo is twice that and two days more, so that the members of the
    incidents near a core's edge, and their own neighbours, are all in the window.
    """
    reach = params.max_time_span_s + params.fire_lead_s + params.time_tolerance_s
    return 2.0 * reach + 2.0 * DAY_S


# --- the cluster ------------------------------------------------------------------------


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` (``tcp://host:8786``) or, when
    none is given, to a LocalCluster of ``n_workers`` (default: the cores) started here and
    stopped on exit."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            msg = (
                f"--scheduler {scheduler!r}: no Dask scheduler answers there ({e}); start one "
                "with `dask scheduler` and workers with `dask worker ADDR`, or omit "
                "--scheduler for a local cluster"
            )
            raise CeasewatchError(msg) from e
        try:
            yield client
        finally:
            client.close()
        return
    workers = n_workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def built_model(agreement: Agreement) -> ZoneModel:
    """A zone model with the fast method's structures built (seconds for a long line),
    so that workers receive them instead of each building its own."""
    model = ZoneModel(agreement)
    if not agreement.line.is_empty:
        b = agreement.line.bounds
        evaluate_zones([b[0]], [b[1]], model, method="fast", workers=1)
    return model


def scatter_models(
    client: Any, agreements: dict[int, Agreement], *, build: bool = False
) -> tuple[Any, Any]:
    """Agreements and their zone models on every worker once; the two futures. ``build``:
    ship the models with their fast structures built (worth it for large inputs; the
    results are the same either way)."""
    models = {v: built_model(a) if build else ZoneModel(a) for v, a in agreements.items()}
    # a list: a dict given to scatter would be taken as {key: data}
    a_f, m_f = client.scatter([agreements, models], broadcast=True, hash=False)
    return a_f, m_f


# --- per event -----------------------------------------------------------------------------


#: side, zone and sector as pandas' arrow-backed strings (null: NaN), in every partition
_STR = pd.StringDtype("pyarrow", na_value=np.nan)
_LABEL_TYPES = {schema.SIDE: _STR, schema.ZONE: _STR, schema.SECTOR: _STR}


def zones_of_partition(
    part: pd.DataFrame,
    agreements: dict[int, Agreement],
    models: dict[int, ZoneModel],
    *,
    threads: int = 1,
    keep: Sequence[str] = (schema.EVENT_ID,),
) -> pd.DataFrame:
    """``keep`` columns and the zone evaluation of each event of ``part`` (in the version
    of the agreement in force at its time), as the single-machine path computes them."""
    out = part[list(keep)].reset_index(drop=True)
    n = len(out)
    if n and part[schema.OCCURRED_AT].notna().all():
        versions = applicable_version(part[schema.OCCURRED_AT], agreements)
        if (versions == versions[0]).all():
            # one version in force (the common case): the columns as evaluate_zones made them
            z = evaluate_zones(
                part[schema.LON].to_numpy(dtype=float),
                part[schema.LAT].to_numpy(dtype=float),
                models[int(versions[0])],
                workers=threads,
            )
            for col in z.columns:
                out[col] = z[col].to_numpy() if col == schema.DISTANCE_TO_LINE_KM else z[col].values
            out[schema.AGREEMENT_VERSION] = versions
            return out.astype(_LABEL_TYPES)
    dist = np.full(n, np.nan)
    side = np.empty(n, dtype=object)
    zone = np.empty(n, dtype=object)
    sector = np.full(n, None, dtype=object)
    if n == 0:
        versions = np.empty(0, dtype=np.int64)
    else:
        versions = applicable_version(part[schema.OCCURRED_AT], agreements)
    lon = part[schema.LON].to_numpy(dtype=float)
    lat = part[schema.LAT].to_numpy(dtype=float)
    for v in np.unique(versions):
        mask = versions == v
        z = evaluate_zones(lon[mask], lat[mask], models[int(v)], workers=threads)
        dist[mask] = z[schema.DISTANCE_TO_LINE_KM].to_numpy(dtype=float)
        side[mask] = z[schema.SIDE].to_numpy(dtype=object)
        zone[mask] = z[schema.ZONE].to_numpy(dtype=object)
        sector[mask] = z[schema.SECTOR].astype(object).to_numpy(dtype=object)
    sector[pd.isna(sector)] = None
    return out.assign(
        **{
            schema.DISTANCE_TO_LINE_KM: dist,
            schema.SIDE: side,
            schema.ZONE: zone,
            schema.SECTOR: sector,
            schema.AGREEMENT_VERSION: versions,
        }
    ).astype(_LABEL_TYPES)


def _zones_meta(keep: Sequence[str], dtypes: pd.Series) -> pd.DataFrame:
    meta = pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in keep})
    return meta.assign(
        **{
            schema.DISTANCE_TO_LINE_KM: pd.Series(dtype=float),
            schema.SIDE: pd.Series(dtype=_STR),
            schema.ZONE: pd.Series(dtype=_STR),
            schema.SECTOR: pd.Series(dtype=_STR),
            schema.AGREEMENT_VERSION: pd.Series(dtype=np.int64),
        }
    )


def event_zones_dask(
    frame: Any,
    agreements_f: Any,
    models_f: Any,
    *,
    threads: int = 1,
    keep: Sequence[str] = (schema.EVENT_ID,),
) -> Any:
    """The zone evaluation of every event of a dask frame, partition by partition (lazy);
    ``agreements_f`` and ``models_f`` as :func:`scatter_models` returns them."""
    import dask

    return frame.map_partitions(
        zones_of_partition,
        dask.delayed(agreements_f),
        dask.delayed(models_f),
        threads=threads,
        keep=tuple(keep),
        meta=_zones_meta(keep, frame.dtypes),
    )


# --- corroboration windows ---------------------------------------------------------------


def _epoch_s(ts: pd.Series) -> npt.NDArray[np.float64]:
    return np.asarray(ts.astype("datetime64[us, UTC]").astype("int64"), dtype=float) / 1e6


def _contiguous(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with arrow-backed columns in one chunk each (a concatenation leaves
    several; some kernels read an arrow column's buffers directly)."""
    import pyarrow as pa

    out = frame
    for col in frame.columns:
        arr = getattr(frame[col].array, "_pa_array", None)
        if isinstance(arr, pa.ChunkedArray) and arr.num_chunks > 1:
            if out is frame:
                out = frame.copy(deep=False)
            out[col] = pd.Series(
                pa.chunked_array([arr.combine_chunks()]), dtype=frame[col].dtype, index=frame.index
            )
    return out


@dataclass(frozen=True)
class Window:
    """Core ``[core_lo, core_hi)`` and the evaluated span ``[lo, hi)`` (epoch seconds)."""

    core_lo: float
    core_hi: float
    lo: float
    hi: float


@dataclass
class WindowResult:
    window: Window
    incidents: pd.DataFrame
    members: pd.DataFrame
    violations: pd.DataFrame
    #: every (event_id, incident_id) the window computed, owned or not
    assignment: pd.DataFrame
    #: owned members: event_id, incident_id, occurred_at (s)
    owned: pd.DataFrame


def windows_over(t_min: float, t_max: float, window_s: float, halo: float) -> list[Window]:
    """Cores of ``window_s`` covering ``[t_min, t_max]``; the first and last open-ended."""
    if not np.isfinite(t_min) or not np.isfinite(t_max):
        return []
    k = max(1, int(np.ceil((t_max - t_min + 1.0) / window_s)))
    edges = t_min + window_s * np.arange(k + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    return [
        Window(float(a), float(b), float(a) - halo, float(b) + halo)
        for a, b in itertools.pairwise(edges)
    ]


def evaluate_window(
    window: Window,
    events: pd.DataFrame,
    agreements: dict[int, Agreement],
    models: dict[int, ZoneModel],
    params: CorroborationParams,
    decisions: Sequence[IncidentDecision] = (),
) -> WindowResult:
    """Incidents and violations of the events of one window (core and halo), with those
    whose earliest member lies in the core marked as owned."""
    t = _epoch_s(events[schema.OCCURRED_AT]) if len(events) else np.empty(0)
    frame = _contiguous(events)
    if len(events) == 0:
        empty = pd.DataFrame({"event_id": [], "incident_id": []}, dtype=object)
        return WindowResult(
            window,
            pd.DataFrame(),
            empty,
            pd.DataFrame(),
            empty,
            empty.assign(t=pd.Series(dtype=float)),
        )
    incidents, members, violations = incidents_and_violations(
        frame, agreements, models, params, decisions
    )
    members = members.reset_index(drop=True)
    first = (
        pd.DataFrame({"incident_id": members["incident_id"].to_numpy(), "t": t})
        .groupby("incident_id")["t"]
        .min()
    )
    owned_ids = first.index[(first >= window.core_lo) & (first < window.core_hi)]
    own = members["incident_id"].isin(owned_ids).to_numpy()
    owned = members[own].assign(t=t[own]).reset_index(drop=True)
    inc = incidents[incidents[schema.INCIDENT_ID].isin(owned_ids)].reset_index(drop=True)
    vio = violations[violations[schema.INCIDENT_ID].isin(owned_ids)].reset_index(drop=True)
    return WindowResult(
        window, inc, members[own].reset_index(drop=True), vio, members, owned.reset_index(drop=True)
    )


def _select(events: pd.DataFrame, t: npt.NDArray[np.float64], lo: float, hi: float) -> pd.DataFrame:
    return events[(t >= lo) & (t < hi)]


def _window_events(
    events: pd.DataFrame,
    t: npt.NDArray[np.float64],
    w: Window,
    decisions: Sequence[IncidentDecision],
) -> pd.DataFrame:
    part = _select(events, t, w.lo, w.hi)
    if decisions:
        # a decision is applied whole: its events join every window holding one of them
        ids = set(part[schema.EVENT_ID])
        named = {e for d in decisions if ids.intersection(d.event_ids) for e in d.event_ids}
        extra = events[events[schema.EVENT_ID].isin(named - ids)]
        if len(extra):
            part = pd.concat([part, extra])
    return part


@dataclass
class StitchReport:
    windows: int = 0
    merges: int = 0
    rounds: int = 0
    problems: list[str] = field(default_factory=list)


def check_stitch(
    results: Sequence[WindowResult], event_ids: pd.Series, *, margin_s: float
) -> list[tuple[int, int]]:
    """Pairs of windows (indices) whose results disagree; empty when the stitch holds.

    The stitch holds when every event belongs to exactly one owned incident and every owned
    incident that lies inside another window, at least ``margin_s`` from its ends, was found
    there with the same members (near a window's ends its results are not expected to hold:
    that is what the halo is for).
    """
    owned = pd.concat([r.owned.assign(_w=i) for i, r in enumerate(results)], ignore_index=True)
    bad: set[tuple[int, int]] = set()
    dup = owned[owned["event_id"].duplicated(keep=False)]
    if len(dup):
        span_w = dup.groupby("event_id")["_w"].agg(["min", "max"]).drop_duplicates()
        bad.update(zip(span_w["min"].tolist(), span_w["max"].tolist(), strict=True))
    missing = ~event_ids.isin(owned["event_id"])
    if missing.any():
        # an event no window owns: the windows around it disagree; merge all of them
        n = len(results)
        bad.update((i, i + 1) for i in range(n - 1))
        return sorted(bad)
    span = owned.groupby("incident_id").agg(t0=("t", "min"), t1=("t", "max"), w=("_w", "first"))
    for j, r in enumerate(results):
        w = r.window
        inner = (span["t0"] >= w.lo + margin_s) & (span["t1"] < w.hi - margin_s)
        vis = span[inner & (span["w"] != j)]
        if vis.empty:
            continue
        mine = owned[owned["incident_id"].isin(vis.index)]
        got = mine[["event_id", "incident_id"]].merge(
            r.assignment, on="event_id", how="left", suffixes=("", "_j")
        )
        wrong = got["incident_id"] != got["incident_id_j"]
        # and nothing else in window j under those ids
        theirs = r.assignment[r.assignment["incident_id"].isin(vis.index)]
        extra = ~theirs["event_id"].isin(mine["event_id"])
        owners = set(vis.loc[got.loc[wrong, "incident_id"].unique(), "w"])
        owners |= set(vis.loc[theirs.loc[extra.to_numpy(), "incident_id"].unique(), "w"])
        bad.update((min(o, j), max(o, j)) for o in owners)
    return sorted(bad)


def _merged(windows: list[Window], bad: Sequence[tuple[int, int]]) -> list[Window]:
    """``windows`` with every disagreeing pair (and the windows between) merged."""
    group = list(range(len(windows)))
    for a, b in bad:
        for k in range(a, b + 1):
            group[k] = group[a]
    out: list[Window] = []
    for g in sorted(set(group)):
        ks = [k for k in range(len(windows)) if group[k] == g]
        lo, hi = windows[ks[0]], windows[ks[-1]]
        out.append(Window(lo.core_lo, hi.core_hi, lo.lo, hi.hi))
    return out


def corroborate_windows(
    client: Any,
    events: pd.DataFrame,
    agreements_f: Any,
    models_f: Any,
    params: CorroborationParams,
    *,
    window_days: float = DEFAULT_WINDOW_DAYS,
    decisions: Sequence[IncidentDecision] = (),
    report: StitchReport | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Incidents, members and violations of ``events`` (in memory on the client), window by
    window on the cluster, stitched and checked (see the module's docstring)."""
    report = report if report is not None else StitchReport()
    if events[schema.OCCURRED_AT].isna().any():
        msg = "events without occurred_at cannot be evaluated; every event needs a time"
        raise CeasewatchError(msg)
    if events[schema.EVENT_ID].duplicated().any():
        msg = "event ids are not unique in the input; each event must appear once"
        raise CeasewatchError(msg)
    t = _epoch_s(events[schema.OCCURRED_AT])
    halo = halo_s(params)
    windows = windows_over(
        float(t.min(initial=np.inf)), float(t.max(initial=-np.inf)), window_days * DAY_S, halo
    )
    done: dict[Window, WindowResult] = {}
    ev_ids = events[schema.EVENT_ID]
    while True:
        report.rounds += 1
        todo = [w for w in windows if w not in done]
        futures = [
            client.submit(
                evaluate_window,
                w,
                _window_events(events, t, w, decisions),
                agreements_f,
                models_f,
                params,
                decisions,
                pure=False,
            )
            for w in todo
        ]
        for w, r in zip(todo, client.gather(futures), strict=True):
            done[w] = r
        results = [done[w] for w in windows]
        bad = check_stitch(results, ev_ids, margin_s=halo / 2) if len(windows) > 1 else []
        if not bad:
            break
        report.merges += len(bad)
        report.problems.append(f"windows {bad} disagreed; merged")
        windows = _merged(windows, bad)
    report.windows = len(windows)
    return _union(results)


def _union(results: Sequence[WindowResult]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        real = [f for f in frames if len(f)]
        if not real:
            return frames[0] if frames else pd.DataFrame()
        return pd.concat(real, ignore_index=True)

    incidents = cat([r.incidents for r in results])
    members = cat([r.members for r in results])
    violations = cat([r.violations for r in results])
    return incidents, members, violations


# --- the store path ----------------------------------------------------------------------


def _due_and_window(
    store: Store,
    events: pd.DataFrame,
    versions: npt.NDArray[np.int64],
    *,
    full: bool,
    params: CorroborationParams,
    decisions: list[IncidentDecision],
) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Which events are due and which are in the corroboration window (as
    ``evaluate_store`` decides), and the stored incident members."""
    done = store.evaluated_event_ids()
    key_now = events[schema.EVENT_ID] + "|" + events["content_sha"] + "|" + versions.astype(str)
    key_done = set(
        done["event_id"] + "|" + done["content_sha"] + "|" + done["agreement_version"].astype(str)
    )
    due = ~key_now.isin(key_done) if not full else pd.Series(True, index=events.index)
    last = store.incidents()["updated_at"].max() if not full else None
    fresh = [d for d in decisions if last is None or pd.isna(last) or d.at > last]
    if fresh:
        due |= events[schema.EVENT_ID].isin({e for d in fresh for e in d.event_ids})
    old = store.incident_members()
    if full or not due.any():
        return due, pd.Series(True, index=events.index), old
    t_s = _epoch_s(events[schema.OCCURRED_AT])
    lo, hi = time_bounds(
        t_s,
        events[schema.TIME_PRECISION],
        events[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    margin = params.max_time_span_s + params.time_tolerance_s
    w_lo = lo[due.to_numpy()].min() - margin
    w_hi = hi[due.to_numpy()].max() + margin
    in_window = pd.Series((hi >= w_lo) & (lo <= w_hi), index=events.index)
    touched = old.loc[old["event_id"].isin(events.loc[in_window, schema.EVENT_ID]), "incident_id"]
    extra = old.loc[old["incident_id"].isin(touched), "event_id"]
    in_window |= events[schema.EVENT_ID].isin(extra)
    in_window |= events[schema.EVENT_ID].isin({e for d in decisions for e in d.event_ids})
    return due, in_window, old


def _event_zones_on_cluster(
    client: Any,
    events: pd.DataFrame,
    agreements_f: Any,
    models_f: Any,
    *,
    rows_per_partition: int,
) -> pd.DataFrame:
    import dask.dataframe as dd

    cols = [schema.EVENT_ID, "content_sha", schema.OCCURRED_AT, schema.LON, schema.LAT]
    frame = events[cols].reset_index(drop=True)
    nparts = max(1, int(np.ceil(len(frame) / rows_per_partition)))
    ddf = dd.from_pandas(frame, npartitions=nparts, sort=False)
    lazy = event_zones_dask(ddf, agreements_f, models_f, keep=(schema.EVENT_ID, "content_sha"))
    out: pd.DataFrame = client.compute(lazy).result()
    return out.reset_index(drop=True)


def evaluate_store_dask(
    store: Store,
    client: Any,
    *,
    full: bool = False,
    params: CorroborationParams | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
    rows_per_partition: int = 1_000_000,
    actor: str = "evaluate",
    report: StitchReport | None = None,
) -> EvaluationResult:
    """``evaluate_store`` with the work done on the Dask cluster of ``client``: the same
    events due, the same corroboration window, the same writes to the store."""
    t0 = time.perf_counter()
    result = EvaluationResult()
    agreements = load_agreements(store)
    if not agreements:
        msg = "no agreement in the store: run `ceasewatch agreement load PATH` first"
        raise CeasewatchError(msg)
    params = params or CorroborationParams()
    events = _with_fire_classes(store, store.events(columns=_EVENT_COLS))
    result.events_total = len(events)
    if events.empty:
        result.seconds = time.perf_counter() - t0
        return result
    versions = applicable_version(events[schema.OCCURRED_AT], agreements)
    decisions = _decisions(store)
    due, in_window, old = _due_and_window(
        store, events, versions, full=full, params=params, decisions=decisions
    )
    result.events_evaluated = int(due.sum())
    if not due.any():
        result.seconds = time.perf_counter() - t0
        return result
    agreements_f, models_f = scatter_models(
        client, agreements, build=int(due.sum()) >= FAST_MIN_EVENTS
    )

    tz = time.perf_counter()
    eval_rows = _event_zones_on_cluster(
        client, events[due], agreements_f, models_f, rows_per_partition=rows_per_partition
    )
    result.zone_seconds = time.perf_counter() - tz
    window = _keep_anchors(events[in_window], old)
    result.events_in_window = len(window)
    incidents, members, violations = corroborate_windows(
        client,
        window,
        agreements_f,
        models_f,
        params,
        window_days=window_days,
        decisions=decisions,
        report=report,
    )
    incidents["updated_at"] = datetime.now(UTC)

    write_evaluation(
        store,
        window[schema.EVENT_ID],
        eval_rows,
        incidents,
        members,
        violations,
        actor=actor,
        payload={
            "events_evaluated": result.events_evaluated,
            "events_in_window": len(window),
            "incidents": len(incidents),
            "violations": len(violations),
            "full": full,
            "engine": "dask",
        },
    )
    result.incidents = len(incidents)
    result.violations = len(violations)
    result.seconds = time.perf_counter() - t0
    return result


def evaluate_events_dask(
    client: Any,
    events: pd.DataFrame,
    agreements: dict[int, Agreement],
    params: CorroborationParams | None = None,
    *,
    window_days: float = DEFAULT_WINDOW_DAYS,
    rows_per_partition: int = 1_000_000,
    report: StitchReport | None = None,
) -> EvaluationFrames:
    """:func:`~ceasewatch.evaluate.run.evaluate_events` on the cluster (nothing stored)."""
    params = params or CorroborationParams()
    agreements_f, models_f = scatter_models(
        client, agreements, build=len(events) >= FAST_MIN_EVENTS
    )
    zones = _event_zones_on_cluster(
        client,
        events.assign(content_sha="") if "content_sha" not in events else events,
        agreements_f,
        models_f,
        rows_per_partition=rows_per_partition,
    ).drop(columns=["content_sha"])
    incidents, members, violations = corroborate_windows(
        client, events, agreements_f, models_f, params, window_days=window_days, report=report
    )
    return EvaluationFrames(zones, incidents, members, violations)


# --- partitioned GeoParquet --------------------------------------------------------------


def write_partitioned_events(
    events: pd.DataFrame, directory: Path, *, rows_per_file: int | None = None
) -> list[Path]:
    """Write ``events`` as GeoParquet (a point geometry beside lon/lat, WGS84), one file per
    UTC day of ``occurred_at`` or, with ``rows_per_file``, per that many rows in time order.
    Files are named so that their order is time order."""
    import geopandas as gpd

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if len(events) == 0:
        return []
    ev = events.sort_values([schema.OCCURRED_AT, schema.EVENT_ID], kind="stable")
    if rows_per_file:
        keys = np.arange(len(ev)) // rows_per_file
        names = [f"part-{k:06d}.parquet" for k in range(int(keys.max()) + 1)]
    else:
        day = ev[schema.OCCURRED_AT].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
        keys, uniq = pd.factorize(day, sort=True)
        names = [f"day-{d}.parquet" for d in uniq]
    paths = []
    for k, name in enumerate(names):
        part = ev[keys == k].reset_index(drop=True)
        gdf = gpd.GeoDataFrame(
            part,
            geometry=gpd.points_from_xy(part[schema.LON], part[schema.LAT]),
            crs="EPSG:4326",
        )
        path = directory / name
        gdf.to_parquet(path, index=False)
        paths.append(path)
    return paths


def canonical_partition(part: pd.DataFrame) -> pd.DataFrame:
    """A partition read from parquet in the canonical columns and types: times as UTC
    timestamps (ISO 8601 text as exports write it is parsed), optional columns filled."""
    missing = [c for c in REQUIRED_COLUMNS if c not in part.columns]
    if missing:
        msg = (
            f"the events parquet lacks column(s) {', '.join(missing)}; expected the "
            f"canonical event columns ({', '.join(REQUIRED_COLUMNS)}); write the input with "
            "ceasewatch.evaluate.dask_engine.write_partitioned_events"
        )
        raise CeasewatchError(msg)
    out = part.drop(columns=[c for c in ("geometry",) if c in part.columns])
    for col in (schema.OCCURRED_AT, schema.RECORDED_AT):
        if col in out and not isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = pd.to_datetime(out[col], utc=True, format="ISO8601")
        if col in out:
            out[col] = out[col].astype("datetime64[us, UTC]")
    for col, default in OPTIONAL_COLUMNS.items():
        if col not in out:
            out[col] = default
    if out[schema.RECORDED_AT].isna().all():
        out[schema.RECORDED_AT] = out[schema.OCCURRED_AT]
    out[schema.TIME_WINDOW_S] = out[schema.TIME_WINDOW_S].astype(float).fillna(0.0)
    return out


def read_events_dir(path: Path) -> Any:
    """A dask frame over a directory of (Geo)Parquet event files (or one file), in the
    canonical columns, one partition per file; the geometry column is not decoded (the
    work reads lon/lat)."""
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        msg = f"--input {str(path)!r} does not exist; give a directory of .parquet files"
        raise CeasewatchError(msg)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        msg = f"--input {str(path)!r}: no .parquet files there"
        raise CeasewatchError(msg)
    names = pq.read_schema(files[0]).names
    cols = [c for c in names if c != "geometry"]
    frame = dd.read_parquet([str(f) for f in files], columns=cols, split_row_groups=False)
    sample = canonical_partition(frame._meta)
    return frame.map_partitions(canonical_partition, meta=sample)


def _rows_in(path: Path) -> int:
    """Rows of the parquet files at ``path``, from their footers."""
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return sum(pq.read_metadata(f).num_rows for f in files)


@dataclass
class DirectoryResult:
    events: int
    incidents: int
    violations: int
    seconds: float
    zone_seconds: float
    outputs: dict[str, Path]
    stitch: StitchReport


def _window_from_parts(w: Window, *parts: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for p in parts:
        t = _epoch_s(p[schema.OCCURRED_AT])
        frames.append(p[(t >= w.lo) & (t < w.hi)])
    return pd.concat(frames, ignore_index=True)


def _part_summary(part: pd.DataFrame, params: CorroborationParams) -> pd.DataFrame:
    t = _epoch_s(part[schema.OCCURRED_AT])
    return pd.DataFrame(
        {
            "t0": [float(t.min(initial=np.inf))],
            "t1": [float(t.max(initial=-np.inf))],
            "n": [len(part)],
        }
    )


def evaluate_directory(
    client: Any,
    input_dir: Path,
    out_dir: Path,
    agreements: dict[int, Agreement],
    params: CorroborationParams | None = None,
    *,
    window_days: float = DEFAULT_WINDOW_DAYS,
    threads: int = 1,
) -> DirectoryResult:
    """Evaluate a directory of event parquet files on the cluster; write GeoParquet to
    ``out_dir``: ``event_zones/`` (one file per input partition), ``incidents.parquet``,
    ``members.parquet`` and ``violations.parquet``.

    Workers read the input files themselves, so on a real cluster ``input_dir`` and
    ``out_dir`` must be on storage every worker sees (a shared file system; ``s3://``
    paths work where dask's filesystem layer has the credentials).
    """
    import dask
    import dask_geopandas
    import geopandas as gpd

    t0 = time.perf_counter()
    params = params or CorroborationParams()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = read_events_dir(input_dir)
    agreements_f, models_f = scatter_models(
        client, agreements, build=_rows_in(input_dir) >= FAST_MIN_EVENTS
    )

    # per event: map_partitions, written as GeoParquet by dask-geopandas
    tz = time.perf_counter()
    zones = event_zones_dask(
        frame,
        agreements_f,
        models_f,
        threads=threads,
        keep=(schema.EVENT_ID, schema.LON, schema.LAT),
    )
    gzones = dask_geopandas.from_dask_dataframe(
        zones, geometry=dask_geopandas.points_from_xy(zones, schema.LON, schema.LAT, crs=4326)
    )
    zone_dir = out_dir / "event_zones"
    client.compute(gzones.to_parquet(str(zone_dir), compute=False)).result()
    zone_s = time.perf_counter() - tz

    # corroboration: windows over the partitions, each task reading the few it needs
    parts = frame.to_delayed()
    summaries = client.compute([dask.delayed(_part_summary)(p, params) for p in parts])
    summary = pd.concat(client.gather(summaries), ignore_index=True)
    n_events = int(summary["n"].sum())
    report = StitchReport()
    results: list[WindowResult] = []
    windows = windows_over(
        float(summary["t0"].min()), float(summary["t1"].max()), window_days * DAY_S, halo_s(params)
    )
    done: dict[Window, WindowResult] = {}
    while windows:
        report.rounds += 1
        todo = [w for w in windows if w not in done]
        lazy = []
        for w in todo:
            need = [
                p
                for p, a, b in zip(parts, summary["t0"], summary["t1"], strict=True)
                if b >= w.lo and a < w.hi
            ]
            events = dask.delayed(_window_from_parts)(w, *need)
            lazy.append(
                dask.delayed(evaluate_window)(
                    w, events, dask.delayed(agreements_f), dask.delayed(models_f), params
                )
            )
        for w, r in zip(todo, client.gather(client.compute(lazy)), strict=True):
            done[w] = r
        results = [done[w] for w in windows]
        if len(windows) == 1:
            break
        all_ids = pd.concat([r.assignment["event_id"] for r in results]).drop_duplicates()
        bad = check_stitch(results, all_ids, margin_s=halo_s(params) / 2)
        if not bad:
            break
        report.merges += len(bad)
        report.problems.append(f"windows {bad} disagreed; merged")
        windows = _merged(windows, bad)
    report.windows = len(windows)
    incidents, members, violations = _union(results) if results else (pd.DataFrame(),) * 3

    outputs = {"event_zones": zone_dir}
    for name, table in (("incidents", incidents), ("violations", violations)):
        path = out_dir / f"{name}.parquet"
        if len(table) and schema.LON in table:
            gpd.GeoDataFrame(
                table,
                geometry=gpd.points_from_xy(table[schema.LON], table[schema.LAT]),
                crs="EPSG:4326",
            ).to_parquet(path, index=False)
        else:
            table.to_parquet(path, index=False)
        outputs[name] = path
    members_path = out_dir / "members.parquet"
    members.to_parquet(members_path, index=False)
    outputs["members"] = members_path
    return DirectoryResult(
        events=n_events,
        incidents=len(incidents),
        violations=len(violations),
        seconds=time.perf_counter() - t0,
        zone_seconds=zone_s,
        outputs=outputs,
        stitch=report,
    )
