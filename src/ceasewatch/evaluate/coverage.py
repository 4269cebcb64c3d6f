"""Coverage: how much was observed, per source, sector and report day.

A quiet sector-day is only a calm one if someone was looking. Coverage counts the records
received from each source in each sector and report day, and for field reports the hours
observed (each report's observation window, counted once per sector it observed). A
sector-day where no source delivered anything is *not observed*, never "zero violations".
Pure functions over frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pandas as pd

from ceasewatch.agreement.model import Agreement
from ceasewatch.normalize import schema

NO_SECTOR = "(no sector)"
COVERAGE_COLUMNS = ("source", "sector", "day", "n_records", "hours_observed", "observed")


def report_day_of(ts: pd.Series, agreement: Agreement) -> pd.Series:
    """The report day each time falls in: periods end at the agreement's local cut-off
    (inclusive), so with a 19:30 cut-off 19:30 belongs to the day and 19:31 to the next."""
    if ts.empty:
        return pd.Series([], index=ts.index, dtype=object)
    local = ts.dt.tz_convert(agreement.tz).dt.tz_localize(None)
    cut = timedelta(hours=agreement.report_cutoff.hour, minutes=agreement.report_cutoff.minute)
    return (local - cut).dt.ceil("D").dt.date


def coverage_table(
    events: pd.DataFrame,
    agreement: Agreement,
    *,
    sectors: Sequence[str] = (),
    days: Sequence[object] = (),
) -> pd.DataFrame:
    """Records and observation hours per source, sector and report day.

    ``events`` needs source, occurred_at, sector (null outside every sector),
    report_group and time_window_s. The result has one row per source × sector × day for
    every sector in ``sectors`` (plus those seen) and every day in ``days`` (plus those
    seen); ``observed`` is False for a sector-day where no source delivered a record.
    """
    ev = events.assign(
        day=report_day_of(events[schema.OCCURRED_AT], agreement),
        sector=events[schema.SECTOR]
        .astype("object")
        .where(events[schema.SECTOR].notna(), NO_SECTOR),
    )
    counts = ev.groupby([schema.SOURCE, "sector", "day"]).size().rename("n_records")
    field = ev[ev[schema.SOURCE] == "field_report"]
    hours = (
        field.groupby([schema.REPORT_GROUP, "sector", "day"])[schema.TIME_WINDOW_S]
        .max()
        .groupby(level=["sector", "day"])
        .sum()
        / 3_600.0
    )
    all_sectors = list(dict.fromkeys([*sectors, *sorted(ev["sector"].unique())]))
    all_days = sorted({*days, *ev["day"].unique()})
    sources = sorted(ev[schema.SOURCE].unique())
    if not all_days or not sources:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    grid = pd.MultiIndex.from_product(
        [sources, all_sectors, all_days], names=[schema.SOURCE, "sector", "day"]
    )
    out = counts.reindex(grid, fill_value=0).reset_index()
    out["hours_observed"] = 0.0
    is_field = out[schema.SOURCE] == "field_report"
    if is_field.any() and not hours.empty:
        key = pd.MultiIndex.from_frame(out.loc[is_field, ["sector", "day"]])
        out.loc[is_field, "hours_observed"] = hours.reindex(key).fillna(0.0).to_numpy()
    any_records = out.groupby(["sector", "day"])["n_records"].transform("sum")
    out["observed"] = any_records > 0
    return out.rename(columns={schema.SOURCE: "source"})[list(COVERAGE_COLUMNS)]


def sector_day_coverage(coverage: pd.DataFrame) -> pd.DataFrame:
    """All sources together: sector, day, n_records, hours_observed."""
    if coverage.empty:
        return pd.DataFrame(columns=["sector", "day", "n_records", "hours_observed"])
    return coverage.groupby(["sector", "day"])[["n_records", "hours_observed"]].sum().reset_index()
