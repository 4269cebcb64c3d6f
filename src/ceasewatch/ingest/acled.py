"""ACLED exports: the standard CSV layout (``event_id_cnty``, ``event_date``, …).

Dates come as ACLED's ISO ``yyyy-mm-dd`` or, in Excel-converted exports, as
``dd/mm/yyyy HH:MM:SS``; both are read. ``geo_precision`` (1-3) and ``time_precision``
(1-3) map to a radius in metres and a canonical time precision; ``event_type`` /
``sub_event_type`` map to canonical categories through ``normalize.vocab.ACLED_CATEGORY``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    register_source,
    rows_to_json,
    to_float,
)
from ceasewatch.normalize import schema, vocab

_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y", "%d %B %Y", "%Y-%m-%dT%H:%M:%S")


def parse_dates(values: pd.Series, formats: tuple[str, ...] = _DATE_FORMATS) -> pd.Series:
    """Dates in any of ``formats`` as UTC timestamps; NaT where none fits."""
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=True)
        out[todo] = parsed.astype("datetime64[us, UTC]")
    return out


@register_source
class AcledSource(EventSource):
    name = "acled"
    title = "ACLED export"
    required_columns = frozenset(
        {
            "event_id_cnty",
            "event_date",
            "time_precision",
            "event_type",
            "sub_event_type",
            "latitude",
            "longitude",
            "geo_precision",
        }
    )

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c != schema.LINE_NO]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)

        ident = raw["event_id_cnty"].astype(str).str.strip()
        checks.flag(ident == "", "event_id_cnty is empty")

        when = parse_dates(raw["event_date"])
        checks.flag(
            when.isna(),
            "event_date '" + raw["event_date"].astype(str) + "' is not a date "
            "(expected dd/mm/yyyy HH:MM:SS or yyyy-mm-dd)",
        )

        lat = to_float(raw["latitude"])
        lon = to_float(raw["longitude"])
        checks.flag(
            lat.isna() | (lat.abs() > 90),
            "latitude '" + raw["latitude"].astype(str) + "' is not a number in [-90, 90]",
        )
        checks.flag(
            lon.isna() | (lon.abs() > 180),
            "longitude '" + raw["longitude"].astype(str) + "' is not a number in [-180, 180]",
        )

        geo_p = to_float(raw["geo_precision"])
        geo_m = geo_p.map(vocab.ACLED_GEO_PRECISION_M)
        checks.flag(
            geo_m.isna(), "geo_precision '" + raw["geo_precision"].astype(str) + "' not in 1-3"
        )
        time_p = to_float(raw["time_precision"]).map(vocab.ACLED_TIME_PRECISION)
        checks.flag(
            time_p.isna(),
            "time_precision '" + raw["time_precision"].astype(str) + "' not in 1-3",
        )

        etype = raw["event_type"].astype(str).str.strip()
        subtype = raw["sub_event_type"].astype(str).str.strip()
        keys = pd.Series(list(zip(etype, subtype, strict=True)), index=raw.index)
        category = keys.map(vocab.ACLED_CATEGORY)
        checks.flag(
            category.isna(),
            "unmapped ACLED event_type/sub_event_type '" + etype + "' / '" + subtype + "'",
        )

        notes = raw["notes"] if "notes" in raw else pd.Series("", index=raw.index)
        fatalities = (
            to_float(raw["fatalities"]) if "fatalities" in raw else pd.Series(np.nan, raw.index)
        )
        checks.flag(
            fatalities < 0,
            "fatalities '"
            + raw.get("fatalities", pd.Series("", index=raw.index)).astype(str)
            + "' is negative",
        )

        ok = checks.ok
        category = vocab.refine_acled_category(category.where(ok, "other"), notes)
        weapon = vocab.weapon_class_from_text(notes)

        def opt(col: str) -> pd.Series:
            if col not in raw:
                return pd.Series(pd.NA, index=raw.index, dtype="object")
            s = raw[col].astype(str).str.strip()
            return s.where(s != "", pd.NA)

        actor = opt("actor1")
        actor2 = opt("actor2")
        actor = actor.where(actor2.isna(), actor.fillna("") + " | " + actor2.fillna(""))
        rel, cred = vocab.DEFAULT_GRADES["acled"]
        events = pd.DataFrame(
            {
                schema.SOURCE: self.name,
                schema.SOURCE_EVENT_ID: ident,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: time_p,
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: geo_m,
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon,
                schema.ACTOR: actor,
                # ACLED's actor order does not say who fired: no attribution from it
                schema.ATTRIBUTED_TO: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.FATALITIES: fatalities,
                schema.COUNT: 1,
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: cred,
                schema.REPORT_GROUP: self.name,
                schema.LOCATION_NAME: opt("location"),
                schema.ADMIN1: opt("admin1"),
                schema.NOTES: opt("notes"),
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok.to_numpy()]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
