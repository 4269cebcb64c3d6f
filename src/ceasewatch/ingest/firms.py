"""NASA FIRMS active-fire detections (VIIRS and MODIS CSV layouts).

``acq_date`` + ``acq_time`` (HHMM, UTC) give the overpass time to the minute; confidence
is ``l``/``n``/``h`` for VIIRS and 0-100 for MODIS. Every detection becomes a
``fire_detection`` event whose location uncertainty is the instrument's pixel size. A
detection has no id of its own: its source id is satellite, instrument, date, time and the
coordinates exactly as FIRMS wrote them.
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


@register_source
class FirmsSource(EventSource):
    name = "firms"
    title = "NASA FIRMS fire detections CSV"
    required_columns = frozenset({"latitude", "longitude", "acq_date", "acq_time"})

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c != schema.LINE_NO]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)

        lat_txt = raw["latitude"].astype(str).str.strip()
        lon_txt = raw["longitude"].astype(str).str.strip()
        lat = to_float(lat_txt)
        lon = to_float(lon_txt)
        checks.flag(
            lat.isna() | (lat.abs() > 90), "latitude '" + lat_txt + "' is not a number in [-90, 90]"
        )
        checks.flag(
            lon.isna() | (lon.abs() > 180),
            "longitude '" + lon_txt + "' is not a number in [-180, 180]",
        )

        date_txt = raw["acq_date"].astype(str).str.strip()
        time_txt = raw["acq_time"].astype(str).str.strip().str.zfill(4)
        good_time = time_txt.str.fullmatch(r"([01]\d|2[0-3])[0-5]\d")
        checks.flag(~good_time, "acq_time '" + raw["acq_time"].astype(str) + "' is not HHMM")
        when = pd.to_datetime(
            date_txt + " " + time_txt, format="%Y-%m-%d %H%M", errors="coerce", utc=True
        ).astype("datetime64[us, UTC]")
        checks.flag(when.isna(), "acq_date '" + date_txt + "' is not yyyy-mm-dd")

        instrument = (
            raw["instrument"].astype(str).str.strip().str.upper()
            if "instrument" in raw
            else pd.Series("VIIRS", index=raw.index)
        )
        instrument = instrument.where(instrument != "", "VIIRS")
        satellite = (
            raw["satellite"].astype(str).str.strip()
            if "satellite" in raw
            else pd.Series("", index=raw.index)
        )
        geo_m = instrument.map(vocab.FIRMS_GEO_PRECISION_M).fillna(1_000.0)

        if "confidence" in raw:
            conf_txt = raw["confidence"].astype(str).str.strip().str.lower()
            conf = conf_txt.map(vocab.FIRMS_CONFIDENCE).fillna(to_float(conf_txt))
            checks.flag(
                (conf_txt != "") & (conf.isna() | (conf < 0) | (conf > 100)),
                "confidence '" + conf_txt + "' is not l/n/h or 0-100",
            )
        else:
            conf = pd.Series(np.nan, index=raw.index)
        # a low-confidence detection is weaker information (Admiralty credibility)
        credibility = np.where(conf < 40, 4, vocab.DEFAULT_GRADES["firms"][1])

        source_id = (
            satellite
            + "|"
            + instrument
            + "|"
            + date_txt
            + "|"
            + time_txt
            + "|"
            + lat_txt
            + "|"
            + lon_txt
        )
        ok = checks.ok
        events = pd.DataFrame(
            {
                schema.SOURCE: self.name,
                schema.SOURCE_EVENT_ID: source_id,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: "minute",
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: geo_m,
                schema.CATEGORY: "fire_detection",
                schema.WEAPON_CLASS: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ACTOR: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ATTRIBUTED_TO: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.FATALITIES: np.nan,
                schema.COUNT: 1,
                schema.RELIABILITY: vocab.DEFAULT_GRADES["firms"][0],
                schema.CREDIBILITY: credibility,
                # each detection is its own report: adjacent pixels of one fire, or one fire
                # seen by two overpasses, may be linked by corroboration
                schema.REPORT_GROUP: "firms:" + source_id,
                schema.LOCATION_NAME: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ADMIN1: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.NOTES: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok.to_numpy()]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
