"""UCDP Georeferenced Event Dataset (GED): the CSV of ucdp.uu.se and of its API.

One row is one fatal event of a dyad (``side_a`` against ``side_b``) with a best, low and
high estimate of deaths, a location precision ``where_prec`` (1-7) and a date range
``date_start`` - ``date_end`` with its precision ``date_prec`` (1-5). The codes map through
the tables of ``normalize.vocab`` (``UCDP_*``):

- ``where_prec`` → ``geo_precision_m`` (1 exact ~1 km … 6 country ~600 km);
- ``date_prec`` → ``time_precision`` (day, day, week, month, year). A range longer than
  one day is kept as ``time_window_s``: the event happened in
  ``[date_start, date_end + 1 day)``. For week/month/year, ``occurred_at`` is the middle of
  the range (the convention of ``normalize.timeprec``), moved so that the precision's span
  never starts after ``date_start``;
- ``type_of_violence`` 1/2 → ``armed_clash``, refined to shelling, air, missile or drone
  strike when the source headlines say so; 3 → ``violence_against_civilians``;
- ``best`` → ``fatalities``; ``low`` and ``high`` stay in the raw record (and the notes);
- ``side_a | side_b`` → ``actor``. GED's side order says who fought, not who fired, so
  nothing is attributed.

Dates come as UCDP's ISO ``yyyy-mm-dd`` (optionally with a time) or, in files that went
through Excel, as US-style ``M/D/YYYY h:mm:ss AM`` or ``MM/DD/YYYY HH:MM`` (both in one
file; the month comes first, checked against the sources' dates). Day-first dates are
never guessed.

Encoding: GED text fields (source headlines, place descriptions) that went through Excel
carry cp1252 bytes in an otherwise UTF-8 file. Each such value is decoded as cp1252 (see
``ingest.csvstream``): the characters are those the bytes stand for in cp1252 (’ · –), the
row is loaded, and its notes name the fields that were decoded that way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ceasewatch.ingest import csvstream
from ceasewatch.ingest.acled import parse_dates
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    register_source,
    rows_to_json,
    to_float,
)
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.timeprec import PRECISION_SPAN_S

#: how values that are not UTF-8 are read (see the module docstring)
FALLBACK_ENCODING = "cp1252"
#: date layouts of GED files, tried in order (month first in the US-style ones)
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)
_DAY_S = 86_400.0


def _opt(raw: pd.DataFrame, col: str) -> pd.Series:
    """A column's stripped text, null where empty or absent."""
    if col not in raw:
        return pd.Series(pd.NA, index=raw.index, dtype="object")
    s = raw[col].astype(str).str.strip()
    return s.where(s != "", pd.NA).astype(object)


def _codes(values: pd.Series, table: Mapping[int, object]) -> pd.Series:
    """Integer codes (as text) looked up in ``table``; null where not a key."""
    number = to_float(values)
    whole = number.notna() & (number == np.floor(number))
    return number.where(whole).map(table)


@register_source
class UcdpSource(EventSource):
    name = "ucdp"
    title = "UCDP GED CSV"
    required_columns = frozenset(
        {
            "id",
            "type_of_violence",
            "side_a",
            "side_b",
            "where_prec",
            "latitude",
            "longitude",
            "date_prec",
            "date_start",
            "date_end",
            "best",
        }
    )

    fallback_encoding = FALLBACK_ENCODING

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c not in (schema.LINE_NO, csvstream.FALLBACK_FIELDS)]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)
        txt = {c: raw[c].astype(str).str.strip() for c in self.required_columns}

        ident = txt["id"]
        checks.flag(ident == "", "id is empty")

        start = parse_dates(txt["date_start"], DATE_FORMATS)
        end = parse_dates(txt["date_end"], DATE_FORMATS)
        expected = "(expected yyyy-mm-dd, M/D/YYYY h:mm:ss AM or MM/DD/YYYY HH:MM)"
        checks.flag(
            start.isna(), "date_start '" + txt["date_start"] + "' is not a date " + expected
        )
        checks.flag(end.isna(), "date_end '" + txt["date_end"] + "' is not a date " + expected)
        checks.flag(
            end < start,
            "date_end '" + txt["date_end"] + "' is before date_start '" + txt["date_start"] + "'",
        )

        lat = to_float(txt["latitude"])
        lon = to_float(txt["longitude"])
        checks.flag(
            lat.isna() | (lat.abs() > 90),
            "latitude '" + txt["latitude"] + "' is not a number in [-90, 90]",
        )
        checks.flag(
            lon.isna() | (lon.abs() > 180),
            "longitude '" + txt["longitude"] + "' is not a number in [-180, 180]",
        )

        geo_m = _codes(txt["where_prec"], vocab.UCDP_GEO_PRECISION_M)
        checks.flag(geo_m.isna(), "where_prec '" + txt["where_prec"] + "' is not one of 1-7")
        time_p = _codes(txt["date_prec"], vocab.UCDP_TIME_PRECISION)
        checks.flag(time_p.isna(), "date_prec '" + txt["date_prec"] + "' is not one of 1-5")
        category = _codes(txt["type_of_violence"], vocab.UCDP_CATEGORY)
        checks.flag(
            category.isna(),
            "type_of_violence '" + txt["type_of_violence"] + "' is not one of 1, 2, 3",
        )
        best = to_float(txt["best"])
        checks.flag(
            best.isna() | (best < 0) | (best != np.floor(best)),
            "best '" + txt["best"] + "' is not a whole number ≥ 0",
        )

        ok = checks.ok
        headlines = (
            _opt(raw, "source_headline").fillna("") + " " + _opt(raw, "source_article").fillna("")
        )
        clash = category == "armed_clash"
        refined = vocab.category_from_keywords(
            headlines, vocab.UCDP_REFINE, category.fillna("other")
        )
        category = refined.where(clash, category).where(ok, "other")
        weapon = vocab.weapon_class_from_text(headlines)

        # time: [date_start, date_end + 1 day) as occurred_at, precision and window
        time_p = time_p.where(ok, "day")
        start = start.where(ok, pd.Timestamp(0, tz="UTC"))
        stop = end.where(ok, pd.Timestamp(0, tz="UTC")) + pd.Timedelta(days=1)
        span_s = (stop - start).dt.total_seconds()
        half_s = time_p.map({k: v[0] for k, v in PRECISION_SPAN_S.items()}).astype(float)
        centred = time_p.isin(["week", "month", "year"])
        offset_s = np.where(centred, np.minimum(span_s / 2, half_s), 0.0)
        occurred = start + pd.to_timedelta(offset_s, unit="s")
        window_s = np.where(span_s > _DAY_S, span_s - offset_s, 0.0)

        clarity = _codes(_opt(raw, "event_clarity").fillna("1"), vocab.UCDP_CREDIBILITY)
        rel, cred = vocab.DEFAULT_GRADES[self.name]
        credibility = clarity.fillna(cred).astype("int64")

        side_a = _opt(raw, "side_a")
        side_b = _opt(raw, "side_b")
        actor = side_a.fillna("") + np.where(side_b.notna(), " | " + side_b.fillna(""), "")
        low = _opt(raw, "low").fillna("?")
        high = _opt(raw, "high").fillna("?")
        dyad = _opt(raw, "dyad_name").fillna(side_a.fillna("") + " - " + side_b.fillna(""))
        notes = (
            dyad
            + ": deaths best "
            + txt["best"]
            + " (low "
            + low
            + ", high "
            + high
            + ")"
            + np.where(
                _opt(raw, "where_description").notna(),
                "; " + _opt(raw, "where_description").fillna(""),
                "",
            )
        )
        if csvstream.FALLBACK_FIELDS in raw:
            decoded = raw[csvstream.FALLBACK_FIELDS].astype(str)
            notes = notes + np.where(
                decoded != "",
                f"; not UTF-8, read as {FALLBACK_ENCODING}: " + decoded.str.replace(",", ", "),
                "",
            )

        events = pd.DataFrame(
            {
                schema.SOURCE: self.name,
                schema.SOURCE_EVENT_ID: ident,
                schema.OCCURRED_AT: occurred.astype("datetime64[us, UTC]"),
                schema.TIME_PRECISION: time_p,
                schema.TIME_WINDOW_S: window_s,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: geo_m,
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon,
                schema.ACTOR: actor.where(actor != "", pd.NA),
                schema.ATTRIBUTED_TO: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.FATALITIES: best,
                schema.COUNT: 1,
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: credibility,
                # GED is already one record per event: two GED records are two events
                schema.REPORT_GROUP: self.name,
                schema.LOCATION_NAME: _opt(raw, "where_coordinates"),
                schema.ADMIN1: _opt(raw, "adm_1"),
                schema.NOTES: notes,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok.to_numpy()]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
