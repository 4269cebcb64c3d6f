"""The daily report from the store: gathers the frames, then calls the pure builder."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.run import applicable_version, load_agreements
from ceasewatch.normalize import schema
from ceasewatch.report.daily import (
    DailyReport,
    ReportGeometry,
    build_daily_report,
    write_daily_report,
)
from ceasewatch.store.base import Store

HISTORY_DAYS = 31


def report_day_of(ts: pd.Series, agreement: Agreement) -> pd.Series:
    """The report day each time falls in: periods end at the agreement's local cut-off
    (inclusive), so 19:30 belongs to the day and 19:31 to the next."""
    if ts.empty:
        return pd.Series([], index=ts.index, dtype=object)
    local = ts.dt.tz_convert(agreement.tz).dt.tz_localize(None)
    cut = timedelta(hours=agreement.report_cutoff.hour, minutes=agreement.report_cutoff.minute)
    return (local - cut).dt.ceil("D").dt.date


def agreement_for_day(store: Store, day: date) -> Agreement:
    agreements = load_agreements(store)
    if not agreements:
        msg = "no agreement in the store: run `ceasewatch agreement load PATH` first"
        raise CeasewatchError(msg)
    any_a = next(iter(agreements.values()))
    _, end = any_a.report_period(day)
    version = int(applicable_version(pd.Series([pd.Timestamp(end)]), agreements)[0])
    return agreements[version]


def daily_report_from_store(
    store: Store, day: date, *, generated_at: datetime | None = None
) -> DailyReport:
    """Build the daily report of ``day`` from what the store holds."""
    agreement = agreement_for_day(store, day)
    start, end = agreement.report_period(day)
    hist_start = end - timedelta(days=HISTORY_DAYS)
    violations = store.violations(since=hist_start, until=end + timedelta(seconds=1))
    violations = violations[violations[schema.OCCURRED_AT] <= pd.Timestamp(end)]

    events = store.events(
        since=hist_start - timedelta(days=1),
        until=end + timedelta(days=1),
        columns=[schema.EVENT_ID, schema.SOURCE, schema.OCCURRED_AT, schema.BATCH_ID],
    )
    events = events[
        (events[schema.OCCURRED_AT] > pd.Timestamp(hist_start))
        & (events[schema.OCCURRED_AT] <= pd.Timestamp(end))
    ]
    received = (
        events.assign(day=report_day_of(events[schema.OCCURRED_AT], agreement))
        .groupby([schema.SOURCE, "day"])
        .size()
        .rename("n_records")
        .reset_index()
    )
    # quarantined rows of the files that fed this report day, or were loaded during it
    in_day = events[events[schema.OCCURRED_AT] > pd.Timestamp(start)]
    batches = store.batches()
    fed = set(in_day[schema.BATCH_ID].unique()) | set(
        batches.loc[
            (batches["started_at"] > pd.Timestamp(start))
            & (batches["started_at"] <= pd.Timestamp(end)),
            "batch_id",
        ]
    )
    quarantine = store.quarantine()
    quarantine = quarantine[quarantine[schema.BATCH_ID].isin(fed)]

    model = ZoneModel(agreement)
    geometry = ReportGeometry(
        line=agreement.line, bands=model.band_polygons(), control=list(agreement.control)
    )
    return build_daily_report(
        day=day,
        period_start=start,
        period_end=end,
        agreement_name=agreement.name,
        agreement_version=int(agreement.version or 0),
        violations=violations,
        received=received,
        quarantine=quarantine,
        geometry=geometry,
        generated_at=generated_at or datetime.now(UTC),
        timezone=agreement.timezone,
    )


def write_daily_report_from_store(
    store: Store, day: date, out_dir: Path, *, generated_at: datetime | None = None
) -> dict[str, Path]:
    report = daily_report_from_store(store, day, generated_at=generated_at)
    return write_daily_report(report, out_dir)
