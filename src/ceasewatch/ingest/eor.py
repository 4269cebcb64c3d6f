"""CIR "Eyes on Russia" (Russia-Ukraine Monitor Map): geolocated open-source incidents.

Columns: ``entry, date, event_group, title, brief description, lat, lon, country, province,
district, town/city, arms/munition, violence level, link, geolocation``. One row is one
verified piece of footage or imagery; several rows may show one happening (they are
separate reports, ``report_group = "eor:" + entry``, so corroboration can join them).

- ``entry`` is the source id; ``date`` (``yyyy-mm-dd``) a local date (``time_precision``
  day). A missing or unparseable date, a date in the future, and a date more than
  :data:`MAX_DAYS_AFTER_POST` days after the source it cites was posted are quarantined.
  The posting time is read from the Twitter/X status id in ``link`` or ``geolocation``
  (a status id holds its creation time); nothing happens after the post that shows it,
  so such a date is an error of the record (a wrong month or year), not a delay. A date
  1-7 days after the post is kept (in the 2022 export 162 rows are 1 day after, 38 are 2-7
  days: likely the day CIR logged the record); the notes say so.
- The category comes from CIR's layer (``event_group``, table
  ``vocab.EOR_GROUP_CATEGORY``), refined by the words of title, brief description and
  arms/munition (``vocab.EOR_REFINE``, first match wins), then by the identified weapon
  (an observed explosion of an artillery or MLRS munition is shelling, of a tactical
  missile a missile strike). A layer the table does not know, with no telling words, is
  ``other``: CIR's layers are an open list, and a record is still evidence of something
  at a place and time.
- ``weapon_class`` from the same words (``vocab.weapon_class_from_text``).
- Location: a record with a geolocation proof (``geolocation`` link) is placed within
  ~500 m and graded B/2; without one it is placed by its town, ~5 km, C/3.

Text that is not UTF-8 is decoded as cp1252 per value (see ``ingest.csvstream``) and the
notes say which fields were.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ceasewatch.ingest import csvstream
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    register_source,
    rows_to_json,
    to_float,
)
from ceasewatch.normalize import schema, vocab

FALLBACK_ENCODING = "cp1252"
#: a record dated more than this many days after its own source was posted is an error
MAX_DAYS_AFTER_POST = 7
#: a Twitter/X status link; the id is a "snowflake": milliseconds since the Twitter epoch
#: in its upper bits
_STATUS_RE = r"(?<![\w-])(?:twitter|x)\.com/[^/?#\s]+/status(?:es)?/(\d{15,20})"
_TWITTER_EPOCH_MS = 1_288_834_974_657


def posted_at(links: pd.Series) -> pd.Series:
    """Earliest posting time (UTC) of the Twitter/X statuses linked in each value; NaT if
    none. A status id is ``(ms since 2010-11-04T01:42:54.657Z) << 22 | worker | seq``."""
    found = links.fillna("").astype(str).str.extractall(_STATUS_RE)
    out = pd.Series(pd.NaT, index=links.index, dtype="datetime64[ms, UTC]")
    if found.empty:
        return out
    ids = found[0].astype("uint64").to_numpy()
    ms = (ids >> np.uint64(22)).astype("int64") + _TWITTER_EPOCH_MS
    when = pd.Series(pd.to_datetime(ms, unit="ms", utc=True), index=found.index)
    earliest = when.groupby(level=0).min()
    out.loc[earliest.index] = earliest.to_numpy()
    return out


@register_source
class EyesOnRussiaSource(EventSource):
    name = "eor"
    title = "CIR Eyes on Russia incidents CSV"
    required_columns = frozenset({"entry", "date", "event_group", "title", "lat", "lon"})

    fallback_encoding = FALLBACK_ENCODING

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c not in (schema.LINE_NO, csvstream.FALLBACK_FIELDS)]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)

        def text(col: str) -> pd.Series:
            if col not in raw:
                return pd.Series("", index=raw.index, dtype="object")
            return raw[col].astype(str).str.strip()

        def opt(col: str) -> pd.Series:
            s = text(col)
            return s.where(s != "", pd.NA).astype(object)

        entry = text("entry")
        checks.flag(entry == "", "entry is empty")

        date_txt = text("date")
        when = pd.to_datetime(date_txt, format="%Y-%m-%d", errors="coerce", utc=True)
        when = when.astype("datetime64[us, UTC]")
        checks.flag(when.isna(), "date '" + date_txt + "' is not a date (expected yyyy-mm-dd)")
        tomorrow = pd.Timestamp(datetime.now(UTC).date(), tz="UTC") + pd.Timedelta(days=1)
        checks.flag(when > tomorrow, "date '" + date_txt + "' is in the future")
        posted = posted_at(text("link") + " " + text("geolocation"))
        lag_days = (when - posted.dt.floor("D")).dt.days
        posted_txt = posted.dt.strftime("%Y-%m-%d").fillna("")
        checks.flag(
            lag_days > MAX_DAYS_AFTER_POST,
            "date '"
            + date_txt
            + "' is "
            + lag_days.astype("Int64").astype(str)
            + " days after its source was posted ("
            + posted_txt
            + ", from the Twitter/X status id in link/geolocation): not this event's date",
        )

        lat_txt = text("lat")
        lon_txt = text("lon")
        lat = to_float(lat_txt)
        lon = to_float(lon_txt)
        checks.flag(
            lat.isna() | (lat.abs() > 90), "lat '" + lat_txt + "' is not a number in [-90, 90]"
        )
        checks.flag(
            lon.isna() | (lon.abs() > 180), "lon '" + lon_txt + "' is not a number in [-180, 180]"
        )
        checks.flag((lat == 0) & (lon == 0), "lat/lon '0', '0' is a placeholder, not a location")

        ok = checks.ok
        group = text("event_group")
        base = pd.Series("other", index=raw.index, dtype="object")
        base = vocab.category_from_keywords(group, vocab.EOR_GROUP_CATEGORY, base)
        words = text("title") + " | " + text("brief description") + " | " + text("arms/munition")
        category = vocab.category_from_keywords(words, vocab.EOR_REFINE, base)
        weapon = vocab.weapon_class_from_text(words)
        explosion = category == "explosion_observed"
        category = category.where(~(explosion & weapon.isin(vocab.SHELLING_WEAPONS)), "shelling")
        category = category.where(
            ~(explosion & weapon.isin(vocab.MISSILE_WEAPONS)), "missile_strike"
        )

        geolocated = text("geolocation") != ""
        geo_m = geolocated.map(vocab.EOR_GEO_PRECISION_M).astype(float)
        rel = geolocated.map(lambda g: vocab.EOR_GRADES[bool(g)][0])
        cred = geolocated.map(lambda g: vocab.EOR_GRADES[bool(g)][1]).astype("int64")

        description = opt("brief description").fillna(text("title"))
        notes = description + np.where(
            text("arms/munition") != "", "; arms/munition: " + text("arms/munition"), ""
        )
        notes = notes + np.where(text("link") != "", "; source: " + text("link"), "")
        late = ok & (lag_days >= 1)
        notes = notes + np.where(
            late,
            "; dated "
            + lag_days.astype("Int64").astype(str)
            + " day(s) after its source was posted ("
            + posted_txt
            + ")",
            "",
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
                schema.SOURCE_EVENT_ID: entry,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: "day",
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: geo_m,
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon,
                # CIR records name the forces seen, not reliably who acted: no actor
                schema.ACTOR: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ATTRIBUTED_TO: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.FATALITIES: np.nan,
                schema.COUNT: 1,
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: cred,
                # each record is one piece of footage: several may show one happening
                schema.REPORT_GROUP: self.name + ":" + entry,
                schema.LOCATION_NAME: opt("town/city"),
                schema.ADMIN1: opt("province"),
                schema.NOTES: notes,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok.to_numpy()]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
