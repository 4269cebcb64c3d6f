"""Claims by a party: "the other side shelled X 14 times on date D".

The layout is documented in ``docs/claims.md``. CSV, JSON (a list of claim objects or
``{"claims": [...]}``) and JSON Lines (streamed) are read. A claim is a source like any
other, graded (default C/4): it becomes one event whose ``attributed_to`` is the party the
claimant blames. Each claim is its own report (``report_group = "claims:<claimant>:<id>"``)
so that corroboration can join it with other sources' records of the same happening, and
two parties' opposite claims about one happening stay side by side in one incident, each
with its own attribution; nothing is overwritten.

The location is the coordinates the claim is geocoded to by whoever records it (no
geocoder here): a claim without ``lon``/``lat`` is quarantined.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest import csvstream
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    iter_json_lines,
    register_source,
    rows_to_json,
    to_float,
)
from ceasewatch.ingest.csvstream import BadRow, ProgressFn
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.timeprec import PRECISION_SPAN_S

FIELDS = (
    "claim_id",
    "claimant",
    "claimed_at",
    "occurred_at",
    "date",
    "time_precision",
    "place",
    "lon",
    "lat",
    "location_precision_m",
    "count",
    "category",
    "weapon_class",
    "attributed_to",
    "fatalities",
    "source_url",
    "reliability",
    "credibility",
    "notes",
)
REQUIRED = frozenset({"claim_id", "claimant", "claimed_at", "lon", "lat", "category"})
FALLBACK_ENCODING = "cp1252"
#: a party code: a letter, then letters, digits, ``_`` or ``-`` (UA, RU, DPR, UA-ZSU)
PARTY_CODE = r"[A-Z][A-Z0-9_-]{0,15}"
#: an ISO 8601 time with an offset or Z (a time without one would silently be UTC)
_WITH_OFFSET = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)"
)
_DATE = r"\d{4}-\d{2}-\d{2}"
_FINER_THAN_DAY = frozenset({"second", "minute", "hour"})
#: column of a JSON claim's original object (kept as its raw record, exactly)
_JSON = "_json"


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _records_frame(records: list[object], line_nos: list[int]) -> tuple[pd.DataFrame, list[BadRow]]:
    """Claim objects as a text frame of the layout's fields, plus each original object."""
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    for rec, line in zip(records, line_nos, strict=True):
        if not isinstance(rec, dict):
            text = json.dumps(rec, ensure_ascii=False, default=str)[:2000]
            bad.append(BadRow(line, "claim is not a JSON object", text))
            continue
        row = {k: _as_text(rec.get(k)) for k in FIELDS}
        row[_JSON] = json.dumps(rec, ensure_ascii=False)
        rows.append(row)
        lines.append(line)
    frame = pd.DataFrame(rows, columns=[*FIELDS, _JSON], dtype=object).fillna("")
    frame[schema.LINE_NO] = np.asarray(lines, dtype=np.int64)
    return frame, bad


@register_source
class ClaimSource(EventSource):
    name = "claims"
    title = "party claims (docs/claims.md)"
    required_columns = REQUIRED
    chunk_records = 50_000

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            yield from self._read_jsonl(path, on_read)
        elif suffix == ".json":
            yield from self._read_json(path, on_read)
        else:
            header = csvstream.read_header(path)
            csvstream.check_columns(path, header, self.required_columns, self.title)
            yield from csvstream.iter_csv_chunks(
                path, header, on_read=on_read, fallback_encoding=FALLBACK_ENCODING
            )

    def _read_json(
        self, path: Path, on_read: ProgressFn | None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            msg = f"{path.name} is not valid JSON ({e}); claims are a JSON list, JSON Lines or CSV"
            raise IngestError(msg) from e
        if on_read is not None:
            on_read(path.stat().st_size)
        if isinstance(doc, dict) and "claims" in doc:
            doc = doc["claims"]
        if not isinstance(doc, list):
            msg = f'{path.name}: expected a JSON list of claims or {{"claims": [...]}}'
            raise SourceFormatError(msg)
        first = next((r for r in doc if isinstance(r, dict)), None)
        if first is not None and len(REQUIRED - set(first)) > len(REQUIRED) // 2:
            missing = ", ".join(sorted(REQUIRED - set(first)))
            msg = f"{path.name} is not a {self.title} file: missing field(s) {missing}"
            raise SourceFormatError(msg)
        # in a JSON list the "line" is the claim's position in the list (1-based)
        for start in range(0, len(doc), self.chunk_records):
            part = doc[start : start + self.chunk_records]
            yield _records_frame(part, list(range(start + 1, start + 1 + len(part))))

    def _read_jsonl(
        self, path: Path, on_read: ProgressFn | None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        return iter_json_lines(
            path, _records_frame, chunk_records=self.chunk_records, on_read=on_read
        )

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        # the raw record is the claim as written: before absent fields are filled in
        if _JSON in raw:
            raw_json = raw[_JSON].astype(object)
        else:
            drop = (schema.LINE_NO, csvstream.FALLBACK_FIELDS)
            raw_json = rows_to_json(raw[[c for c in raw.columns if c not in drop]])
        blank = pd.Series("", index=raw.index, dtype=object)
        txt = {c: raw.get(c, blank).astype(str).str.strip() for c in FIELDS}
        checks = RowChecks(raw.index)

        claim_id = txt["claim_id"]
        checks.flag(claim_id == "", "claim_id is missing")
        claimant = txt["claimant"].str.upper()
        checks.flag(
            ~claimant.str.fullmatch(PARTY_CODE),
            "claimant '" + txt["claimant"] + "' is not a party code (e.g. UA, RU)",
        )
        blamed = txt["attributed_to"].str.upper()
        checks.flag(
            (blamed != "") & ~blamed.str.fullmatch(PARTY_CODE),
            "attributed_to '" + txt["attributed_to"] + "' is not a party code (e.g. UA, RU)",
        )

        claimed = _iso_times(txt["claimed_at"])
        # a statement dated by its day only was made by the end of that day
        claimed_by = claimed + pd.to_timedelta(
            np.where(txt["claimed_at"].str.fullmatch(_DATE), 86_400.0, 0.0), unit="s"
        )
        checks.flag(
            claimed.isna(),
            "claimed_at '"
            + txt["claimed_at"]
            + "' is not an ISO 8601 time with offset or a yyyy-mm-dd date",
        )
        has_time = txt["occurred_at"] != ""
        has_date = txt["date"] != ""
        checks.flag(~has_time & ~has_date, "neither occurred_at nor date is given")
        at = pd.to_datetime(
            txt["occurred_at"].where(txt["occurred_at"].str.fullmatch(_WITH_OFFSET), ""),
            errors="coerce",
            utc=True,
            format="ISO8601",
        )
        checks.flag(
            has_time & at.isna(),
            "occurred_at '" + txt["occurred_at"] + "' is not an ISO 8601 time with offset",
        )
        day = pd.to_datetime(txt["date"], errors="coerce", utc=True, format="%Y-%m-%d")
        checks.flag(has_date & day.isna(), "date '" + txt["date"] + "' is not a date (yyyy-mm-dd)")
        checks.flag(
            has_time & has_date & (txt["occurred_at"].str[:10] != txt["date"]),
            "date '" + txt["date"] + "' disagrees with occurred_at '" + txt["occurred_at"] + "'",
        )
        when = at.where(has_time, day).astype("datetime64[us, UTC]")

        precision = txt["time_precision"].str.lower()
        precision = precision.where(precision != "", np.where(has_time, "minute", "day"))
        checks.flag(
            ~precision.isin(schema.TIME_PRECISIONS),
            "time_precision '"
            + txt["time_precision"]
            + "' is not one of "
            + ", ".join(schema.TIME_PRECISIONS),
        )
        checks.flag(
            ~has_time & precision.isin(_FINER_THAN_DAY),
            "time_precision '" + txt["time_precision"] + "' is finer than a date without a time",
        )
        # known to a day or coarser: the local date as written, at 00:00 UTC (the store's
        # convention for dates, see normalize.timeprec)
        coarse = has_time & precision.isin(["day", "week", "month", "year"])
        written_day = pd.to_datetime(
            txt["occurred_at"].str[:10].where(coarse, ""),
            errors="coerce",
            utc=True,
            format="%Y-%m-%d",
        )
        when = when.where(~coarse, written_day.astype("datetime64[us, UTC]"))
        before_s = precision.map({k: v[0] for k, v in PRECISION_SPAN_S.items()}).fillna(0.0)
        earliest = when - pd.to_timedelta(before_s.astype(float), unit="s")
        checks.flag(
            earliest > claimed_by,
            np.where(has_time, "occurred_at '", "date '")
            + txt["occurred_at"].where(has_time, txt["date"])
            + "' is after claimed_at '"
            + txt["claimed_at"]
            + "' (a claim cannot precede what it reports)",
        )

        lon = to_float(txt["lon"])
        lat = to_float(txt["lat"])
        checks.flag(
            lat.isna() | (lat.abs() > 90), "lat '" + txt["lat"] + "' is not a number in [-90, 90]"
        )
        checks.flag(
            lon.isna() | (lon.abs() > 180),
            "lon '" + txt["lon"] + "' is not a number in [-180, 180]",
        )
        radius = to_float(txt["location_precision_m"]).where(
            txt["location_precision_m"] != "", vocab.CLAIM_GEO_PRECISION_M
        )
        checks.flag(
            radius.isna() | (radius <= 0) | np.isinf(radius),
            "location_precision_m '" + txt["location_precision_m"] + "' is not a number > 0",
        )
        count = to_float(txt["count"].replace("", "1"))
        checks.flag(
            count.isna() | (count < 1) | (count != np.floor(count)) | (count > 1e9),
            "count '" + txt["count"] + "' is not a whole number in 1-10^9",
        )
        fatalities = to_float(txt["fatalities"])
        checks.flag(
            (txt["fatalities"] != "") & (fatalities.isna() | (fatalities < 0)),
            "fatalities '" + txt["fatalities"] + "' is not a number ≥ 0",
        )

        category = txt["category"].str.lower()
        checks.flag(
            ~category.isin(schema.CATEGORIES),
            "category '" + txt["category"] + "' is not one of " + ", ".join(schema.CATEGORIES),
        )
        weapon = txt["weapon_class"].str.lower()
        checks.flag(
            (weapon != "") & ~weapon.isin(schema.WEAPON_CLASSES),
            "weapon_class '"
            + txt["weapon_class"]
            + "' is not one of "
            + ", ".join(schema.WEAPON_CLASSES),
        )
        default_rel, default_cred = vocab.DEFAULT_GRADES[self.name]
        rel = txt["reliability"].str.upper().replace("", default_rel)
        checks.flag(
            ~rel.isin(schema.RELIABILITY_GRADES),
            "reliability '" + txt["reliability"] + "' is not A-F",
        )
        cred = to_float(txt["credibility"].replace("", str(default_cred)))
        checks.flag(
            ~cred.isin(list(schema.CREDIBILITY_GRADES)),
            "credibility '" + txt["credibility"] + "' is not 1-6",
        )

        ok = checks.ok.to_numpy()
        notes = (
            "claim by "
            + claimant
            + " ("
            + txt["claimed_at"]
            + ")"
            + np.where(blamed != "", ", blaming " + blamed, "")
            + np.where(count > 1, ": ×" + count.fillna(1).astype("int64").astype(str), "")
            + np.where(txt["notes"] != "", "; " + txt["notes"], "")
            + np.where(txt["source_url"] != "", "; " + txt["source_url"], "")
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
                # claim ids are the claimant's own numbering
                schema.SOURCE_EVENT_ID: claimant + ":" + claim_id,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: precision,
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: radius,
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon.where(weapon != "", pd.NA),
                schema.ACTOR: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ATTRIBUTED_TO: blamed.where(blamed != "", pd.NA),
                schema.FATALITIES: fatalities,
                schema.COUNT: count.where(checks.ok, 1).fillna(1).astype("int64"),
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: cred.fillna(6).astype("int64"),
                schema.REPORT_GROUP: "claims:" + claimant + ":" + claim_id,
                schema.LOCATION_NAME: txt["place"].where(txt["place"] != "", pd.NA),
                schema.ADMIN1: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.NOTES: notes,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])


def _iso_times(values: pd.Series) -> pd.Series:
    """ISO 8601 times with offset, or dates (00:00 UTC); NaT otherwise."""
    timed = values.where(values.str.fullmatch(_WITH_OFFSET), "")
    out = pd.to_datetime(timed, errors="coerce", utc=True, format="ISO8601")
    dates = pd.to_datetime(
        values.where(values.str.fullmatch(_DATE), ""), errors="coerce", utc=True, format="%Y-%m-%d"
    )
    return out.fillna(dates).astype("datetime64[us, UTC]")
