"""NASA FIRMS active-fire detections (VIIRS and MODIS CSV layouts).

Two layouts are read, told apart by the header (column names compared case-insensitively):

* **full** (``latitude, longitude, acq_date, acq_time``, usually with ``satellite``,
  ``instrument``, ``confidence`` …): ``acq_date`` + ``acq_time`` (HHMM, UTC) give the
  overpass time to the minute; confidence is ``l``/``n``/``h`` for VIIRS and 0-100 for
  MODIS. The location uncertainty is the instrument's pixel size. A detection has no id of
  its own: its source id is satellite, instrument, date, time and the coordinates exactly as
  FIRMS wrote them.
* **reduced** (``LATITUDE, LONGITUDE, ACQ_DATE`` and no ``acq_time``: the multi-year
  extracts of the war-fire models, MODIS and VIIRS merged with nothing to tell them apart):
  time precision ``day`` (``occurred_at`` = the UTC date at 00:00), location uncertainty
  1 km (the coarser of the two sensors), no confidence (Admiralty credibility of the source
  default). Its source id is ``date|latitude|longitude|k`` with the text as written and
  ``k`` the occurrence of that exact (date, latitude, longitude) in the file (1 for the
  first). Identical rows are kept as distinct detections, not quarantined as duplicates:
  without time or sensor, MODIS and VIIRS (or two overpasses) seeing the same pixel
  centre on the same day print the same row, and dropping one would undercount the fire
  activity the fire model measures. The ids stay idempotent: re-loading the same rows,
  in any order, gives the same multiset of ids, so nothing is added twice. The counter is
  carried from one read block to the next for the ids of the previous block (memory
  bounded by a block); an exact repeat further apart in a file that is not sorted by date
  gets an id already used and is quarantined as a duplicate source id, visibly.

Every detection becomes a ``fire_detection`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ceasewatch.errors import SourceFormatError
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    register_source,
    rows_to_json,
    to_float,
)
from ceasewatch.ingest.csvstream import BadRow, ProgressFn, iter_csv_chunks, read_header
from ceasewatch.normalize import schema, vocab

#: columns of the full layout (lower case; the header is compared case-insensitively)
FULL_COLUMNS = frozenset({"latitude", "longitude", "acq_date", "acq_time"})
#: columns of the reduced layout: no overpass time, no attributes
REDUCED_COLUMNS = frozenset({"latitude", "longitude", "acq_date"})
#: location uncertainty of a reduced-layout detection: MODIS (1 km) and VIIRS (375 m)
#: are merged and cannot be told apart, so the coarser
REDUCED_GEO_PRECISION_M = 1_000.0


@register_source
class FirmsSource(EventSource):
    name = "firms"
    title = "NASA FIRMS fire detections CSV"
    required_columns = FULL_COLUMNS
    #: bytes per read block (tests make it small to cross block boundaries)
    block_bytes: int = 16 << 20

    def __init__(self) -> None:
        # per file: the layout, and the occurrence counts of the previous block's ids
        self._reduced: bool | None = None
        self._carry: dict[str, int] = {}

    @staticmethod
    def layout(path: Path, header: list[str]) -> str:
        """``'full'`` or ``'reduced'`` from a header; refuses anything else."""
        lower = [h.strip().lower() for h in header]
        dup = sorted({h for h in lower if lower.count(h) > 1} & FULL_COLUMNS)
        if dup:
            msg = (
                f"{path.name}: column(s) {', '.join(dup)} appear twice (names are compared "
                "without regard to case)"
            )
            raise SourceFormatError(msg)
        if set(lower) >= FULL_COLUMNS:
            return "full"
        if set(lower) >= REDUCED_COLUMNS:
            return "reduced"
        missing = sorted(FULL_COLUMNS - set(lower))
        msg = (
            f"{path.name} is not a {FirmsSource.title} file: missing column(s) "
            f"{', '.join(missing)} (found: {', '.join(header[:12])}"
            f"{' …' if len(header) > 12 else ''}). A FIRMS file has latitude, longitude, "
            "acq_date, acq_time (full layout) or LATITUDE, LONGITUDE, ACQ_DATE (reduced "
            "layout, day precision). Check that you chose the right source for this file."
        )
        raise SourceFormatError(msg)

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        header = read_header(path)
        self._reduced = self.layout(path, header) == "reduced"
        self._carry = {}
        try:
            yield from iter_csv_chunks(path, header, block_bytes=self.block_bytes, on_read=on_read)
        finally:
            self._reduced = None
            self._carry = {}

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c != schema.LINE_NO]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)
        # names compared case-insensitively; the raw record keeps them as written
        raw = raw.rename(columns={c: c.strip().lower() for c in cols})
        reduced = self._reduced if self._reduced is not None else "acq_time" not in raw.columns
        if reduced:
            return self._normalize_reduced(raw, raw_json, checks)

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

    def _normalize_reduced(
        self, raw: pd.DataFrame, raw_json: pd.Series, checks: RowChecks
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        when = pd.to_datetime(date_txt, format="%Y-%m-%d", errors="coerce", utc=True).astype(
            "datetime64[us, UTC]"
        )
        checks.flag(when.isna(), "acq_date '" + date_txt + "' is not yyyy-mm-dd")

        # occurrence of this exact (date, latitude, longitude) in the file so far
        base = date_txt + "|" + lat_txt + "|" + lon_txt
        k = base.groupby(base, sort=False).cumcount() + 1
        if self._carry:
            k = k + base.map(self._carry).fillna(0).astype("int64")
        self._carry = dict(zip(base, k, strict=True))  # the last occurrence wins
        source_id = base + "|" + k.astype(str)
        geo_m = REDUCED_GEO_PRECISION_M
        if "instrument" in raw:
            instrument = raw["instrument"].astype(str).str.strip().str.upper()
            geo_m = instrument.map(vocab.FIRMS_GEO_PRECISION_M).fillna(REDUCED_GEO_PRECISION_M)
        na = pd.Series(pd.NA, index=raw.index, dtype="object")
        events = pd.DataFrame(
            {
                schema.SOURCE: self.name,
                schema.SOURCE_EVENT_ID: source_id,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: "day",
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: geo_m,
                schema.CATEGORY: "fire_detection",
                schema.WEAPON_CLASS: na,
                schema.ACTOR: na,
                schema.ATTRIBUTED_TO: na,
                schema.FATALITIES: np.nan,
                schema.COUNT: 1,
                schema.RELIABILITY: vocab.DEFAULT_GRADES["firms"][0],
                schema.CREDIBILITY: vocab.DEFAULT_GRADES["firms"][1],
                schema.REPORT_GROUP: "firms:" + source_id,
                schema.LOCATION_NAME: na,
                schema.ADMIN1: na,
                schema.NOTES: na,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[checks.ok.to_numpy()]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
