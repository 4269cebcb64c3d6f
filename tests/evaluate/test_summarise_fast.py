"""The incident summaries (and the rules' lists of event ids) are grouped by integer codes (one hash of the incident ids, one
sort of the distinct ids), not by sorting text: they must equal, value for value, what
the plain pandas group-by gives (kept below as the reference), on generated events full
of ties (same precision, same time span, same priority) and of missing values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import make_events
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from ceasewatch.evaluate.corroborate import (
    _ecef,
    _epoch_s,
    _from_ecef,
    summarise_incidents,
)
from ceasewatch.evaluate.frames import join_unique, join_unique_codes
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.crs import to_metric, to_wgs84
from ceasewatch.normalize.timeprec import time_bounds


def reference_summary(
    events: pd.DataFrame, incident_id: pd.Series, crs: CRS | None = None
) -> pd.DataFrame:
    """The pandas group-by summary (the implementation before integer codes)."""
    ev = events.assign(**{schema.INCIDENT_ID: incident_id.to_numpy()})
    if ev.empty:
        return pd.DataFrame(columns=[schema.INCIDENT_ID])
    lon = ev[schema.LON].to_numpy(dtype=float)
    lat = ev[schema.LAT].to_numpy(dtype=float)
    if crs is None:
        x, y, z = _ecef(lon, lat)
    else:
        x, y = to_metric(lon, lat, crs)
        z = np.zeros(len(lon))
    w = 1.0 / np.maximum(ev[schema.GEO_PRECISION_M].to_numpy(dtype=float), 1.0) ** 2
    t = _epoch_s(ev[schema.OCCURRED_AT])
    lo, hi = time_bounds(
        t,
        ev[schema.TIME_PRECISION].to_numpy(dtype=object),
        ev[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    ev = ev.assign(
        _wx=x * w,
        _wy=y * w,
        _wz=z * w,
        _w=w,
        _span=hi - lo,
        _prio=ev[schema.CATEGORY].map(schema.CATEGORY_PRIORITY).fillna(0),
        _weight=vocab.admiralty_weight(
            ev[schema.RELIABILITY].to_numpy(dtype=object),
            ev[schema.CREDIBILITY].to_numpy(dtype=np.int64),
        ),
        _weapon_rank=ev[schema.WEAPON_CLASS]
        .map({c: i for i, c in enumerate(schema.WEAPON_CLASSES)})
        .fillna(-1),
    )
    g = ev.groupby(schema.INCIDENT_ID, sort=True)
    sums = g[["_wx", "_wy", "_wz", "_w"]].sum()
    mx, my, mz = (sums[c].to_numpy() / sums["_w"].to_numpy() for c in ("_wx", "_wy", "_wz"))
    ix, iy = _from_ecef(mx, my, mz) if crs is None else to_wgs84(mx, my, crs)
    # precision of the mean: radius of the best member, never better than that
    best_time = (
        ev.sort_values([schema.INCIDENT_ID, "_span", schema.EVENT_ID])
        .groupby(schema.INCIDENT_ID)
        .first()
    )
    top_cat = (
        ev.sort_values([schema.INCIDENT_ID, "_prio"], ascending=[True, False])
        .groupby(schema.INCIDENT_ID)[schema.CATEGORY]
        .first()
    )
    heavy = (
        ev[ev["_weapon_rank"] >= 0]
        .sort_values([schema.INCIDENT_ID, "_weapon_rank"], ascending=[True, False])
        .groupby(schema.INCIDENT_ID)[schema.WEAPON_CLASS]
        .first()
    )
    per_source = ev.groupby([schema.INCIDENT_ID, schema.SOURCE])["_weight"].max()
    confidence = 1.0 - (1.0 - per_source).groupby(level=0).prod()

    key = sums.index.get_indexer(ev[schema.INCIDENT_ID])

    def joined(col: str) -> pd.Series:
        return pd.Series(join_unique_codes(key, len(sums), ev[col]), index=sums.index, dtype=object)

    attributed = joined(schema.ATTRIBUTED_TO)
    location = (
        ev.sort_values([schema.INCIDENT_ID, schema.GEO_PRECISION_M])
        .groupby(schema.INCIDENT_ID)[schema.LOCATION_NAME]
        .first()
    )
    out = pd.DataFrame(
        {
            schema.INCIDENT_ID: sums.index.to_numpy(),
            schema.OCCURRED_AT: best_time[schema.OCCURRED_AT].array,
            schema.TIME_PRECISION: best_time[schema.TIME_PRECISION].to_numpy(),
            schema.LON: ix,
            schema.LAT: iy,
            schema.GEO_PRECISION_M: g[schema.GEO_PRECISION_M].min().to_numpy(),
            schema.CATEGORY: top_cat.to_numpy(),
            "categories": joined(schema.CATEGORY).to_numpy(),
            schema.WEAPON_CLASS: heavy.reindex(sums.index).to_numpy(),
            "weapon_classes": joined(schema.WEAPON_CLASS).to_numpy(),
            "n_events": g.size().to_numpy(),
            "n_sources": g[schema.SOURCE].nunique().to_numpy(),
            "sources": joined(schema.SOURCE).to_numpy(),
            schema.CONFIDENCE: confidence.reindex(sums.index).to_numpy(),
            schema.FATALITIES: g[schema.FATALITIES].max().to_numpy(),
            schema.ATTRIBUTED_TO: attributed.replace("", None).to_numpy(),
            schema.LOCATION_NAME: location.reindex(sums.index).to_numpy(),
        }
    )
    return out


_INCIDENTS = [f"I{c}" for c in "bacfed"]
_PRECISIONS = ["minute", "minute", "day", "second", "hour"]


def _missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as objects with None for a missing value (pandas gives NaN or None
    depending on the column's dtype; both are stored as NULL)."""
    out = frame.reset_index(drop=True).copy()
    for c in out.columns:
        if out[c].dtype == float and out[c].isna().all():
            out[c] = pd.Series([None] * len(out), dtype=object)
        elif not pd.api.types.is_numeric_dtype(out[c]) and not isinstance(
            out[c].dtype, pd.DatetimeTZDtype
        ):
            v = out[c].to_numpy(dtype=object)
            out[c] = pd.Series(np.where(pd.isna(v), None, v), dtype=object)
        elif pd.api.types.is_integer_dtype(out[c]):
            out[c] = out[c].astype(np.int64)
    return out


@st.composite
def events_and_ids(draw: Any) -> tuple[pd.DataFrame, pd.Series]:
    n = draw(st.integers(1, 40))

    def col(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    precision = col(st.sampled_from(_PRECISIONS))
    events = make_events(
        n,
        **{
            # shuffled, and repeated: the tie-break must compare the ids, not the rows
            schema.EVENT_ID: col(st.sampled_from(["e3", "e1", "e20", "e2", "e10", "x", "é", "ea"])),
            schema.SOURCE: col(st.sampled_from(["firms", "acled", "ucdp", "field_report"])),
            schema.OCCURRED_AT: col(
                st.sampled_from(["2023-06-01T12:00Z", "2023-06-01T00:00Z", "2023-06-02T08:30Z"])
            ),
            schema.TIME_PRECISION: precision,
            schema.TIME_WINDOW_S: col(st.sampled_from([0.0, 0.0, 3_600.0, float("nan")])),
            schema.LON: col(st.sampled_from([37.5, 37.51, 38.0])),
            schema.LAT: col(st.sampled_from([48.5, 48.49, 47.9])),
            schema.GEO_PRECISION_M: col(st.sampled_from([375.0, 375.0, 2_000.0, 1_000.0])),
            schema.CATEGORY: col(st.sampled_from([*schema.CATEGORIES[:4], "fire"])),
            schema.WEAPON_CLASS: col(st.sampled_from([None, None, *schema.WEAPON_CLASSES[:5]])),
            schema.ATTRIBUTED_TO: col(st.sampled_from([None, "RU", "UA"])),
            schema.FATALITIES: col(st.sampled_from([float("nan"), 0.0, 3.0])),
            schema.RELIABILITY: col(st.sampled_from(list("ABCF"))),
            schema.CREDIBILITY: col(st.sampled_from([1, 2, 3, 6])),
            schema.LOCATION_NAME: col(st.sampled_from([None, None, "Bakhmut", "Avdiivka"])),
        },
    )
    ids = pd.Series(col(st.sampled_from(_INCIDENTS)), index=np.arange(n)[::-1] + 7)
    return events, ids


@settings(max_examples=150, deadline=None)
@given(events_and_ids())
def test_summary_equals_the_pandas_group_by(case: tuple[pd.DataFrame, pd.Series]) -> None:
    events, ids = case
    got = summarise_incidents(events, ids)
    want = reference_summary(events, ids)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(_missing_as_none(got), _missing_as_none(want))


def test_summary_in_a_metric_crs_equals_the_pandas_group_by() -> None:
    events = make_events(
        6,
        **{
            schema.LON: [37.5, 37.6, 37.7, 38.0, 38.1, 38.2],
            schema.GEO_PRECISION_M: [375.0, 2_000.0, 375.0, 375.0, 1_000.0, 1_000.0],
        },
    )
    ids = pd.Series(["Ib", "Ia", "Ib", "Ia", "Ic", "Ib"])
    crs = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=37.5 +k=1 +x_0=500000 +y_0=0 +ellps=WGS84")
    pd.testing.assert_frame_equal(
        _missing_as_none(summarise_incidents(events, ids, crs)),
        _missing_as_none(reference_summary(events, ids, crs)),
    )


def reference_join_unique(frame: pd.DataFrame, key: str, col: str, sep: str = ";") -> pd.Series:
    """Per key, the sorted distinct values joined in Python (the implementation before
    integer codes)."""
    keys = pd.Index(frame[key].drop_duplicates())
    sub = frame[[key, col]].dropna().drop_duplicates()
    sub = sub.assign(**{col: sub[col].astype(str)}).sort_values([key, col])
    joined = sub.groupby(key, sort=False)[col].agg(sep.join)
    return joined.reindex(keys).fillna("").astype(object)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Ib", "Ia", "Ic", "I10"]),
            st.one_of(st.none(), st.sampled_from(["e2", "e10", "e1", "é", "e1 "])),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_join_unique_equals_the_python_join(rows: list[tuple[str, str | None]]) -> None:
    frame = pd.DataFrame(rows, columns=["k", "v"])
    got = join_unique(frame, "k", "v")
    want = reference_join_unique(frame, "k", "v")
    assert got.index.tolist() == want.index.tolist()
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("n_values", [3, 3_000])
def test_join_unique_by_marks_and_by_sorting(n_values: int) -> None:
    """Few distinct values are paired by marks, many by sorting: the same joins."""
    rng = np.random.default_rng(n_values)
    frame = pd.DataFrame(
        {
            "k": [f"I{k}" for k in rng.integers(0, 2_000, 3_000)],
            "v": [None if v == 0 else f"v{v}" for v in rng.integers(0, n_values, 3_000)],
        }
    )
    got = join_unique(frame, "k", "v")
    want = reference_join_unique(frame, "k", "v")
    assert got.index.tolist() == want.index.tolist()
    assert got.tolist() == want.tolist()


def test_summary_of_numeric_ids_equals_the_pandas_group_by() -> None:
    """Ids that are not text (numbers) are grouped and tie-broken as pandas sorts them."""
    events = make_events(
        5, **{schema.EVENT_ID: [10, 2, 33, 2, 5], schema.SOURCE: ["a", "b", "a", "c", "b"]}
    )
    ids = pd.Series([7, 11, 7, 3, 11])
    pd.testing.assert_frame_equal(
        _missing_as_none(summarise_incidents(events, ids)),
        _missing_as_none(reference_summary(events, ids)),
        check_dtype=False,  # the ids come back as objects: same values
    )


def test_summary_takes_each_column_first_present_value_as_group_by_first() -> None:
    """A member without a time or a precision: each column's first present value, as
    the pandas group-by ``first()`` gives them."""
    events = make_events(
        4,
        **{
            schema.OCCURRED_AT: ["2023-06-01T12:00Z", None, "2023-06-01T13:00Z", None],
            schema.TIME_PRECISION: [None, "hour", "minute", "day"],
        },
    )
    ids = pd.Series(["Ia", "Ia", "Ib", "Ib"])
    pd.testing.assert_frame_equal(
        _missing_as_none(summarise_incidents(events, ids)),
        _missing_as_none(reference_summary(events, ids)),
    )


def test_summary_refuses_a_missing_incident_id_or_source() -> None:
    events = make_events(3, **{schema.SOURCE: ["a", None, "b"]})
    with pytest.raises(ValueError, match="source: 1 missing value"):
        summarise_incidents(events, pd.Series(["Ia", "Ia", "Ib"]))
    with pytest.raises(ValueError, match="incident_id: 1 missing value"):
        summarise_incidents(make_events(2), pd.Series(["Ia", None]))
