"""Readers of the guarantee data sets: each returns frames plus quarantine rows.

- :func:`kiel_from_workbook`: Kiel Institute Ukraine Support Tracker (Excel): the item
  table ``Bilateral assistance, MAIN DATA`` and the heavy-weapon matrices ``Committed
  weapons`` / ``Delivered weapons``.
- :func:`air_attacks_from_csv`: the daily missile and drone attack records (Ukrainian Air
  Force reports digitised by Petro Ivaniuk): launched and destroyed by weapon model.
- :func:`air_alerts_from_csv`: official air-raid alerts by oblast/raion/hromada.
- :func:`losses_from_mod_json`, :func:`losses_from_oryx_json`: equipment losses (context).
- :func:`places_from_geonames`: populated places with population (GeoNames).

No store access here; :mod:`ceasewatch.guarantee.ingest` puts the frames in the store.
A quarantine row names the field, echoes the bad value and says what was expected.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest.base import QUARANTINE_COLUMNS, RowChecks, rows_to_json
from ceasewatch.normalize import schema

KYIV_TZ: Final = "Europe/Kyiv"


def _quarantine(line_no: list[int], reasons: list[str], raws: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {schema.LINE_NO: line_no, "reason": reasons, schema.RAW: raws},
        columns=list(QUARANTINE_COLUMNS),
    ).astype({schema.LINE_NO: "int64"})


def _json_row(row: dict[str, Any]) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, datetime | date):
            return v.isoformat()
        return v

    return json.dumps({str(k): plain(v) for k, v in row.items()}, ensure_ascii=False)


# =======================================================================================
# Kiel Institute Ukraine Support Tracker
# =======================================================================================
KIEL_MAIN_SHEET: Final = "Bilateral assistance, MAIN DATA"
KIEL_COMMITTED_SHEET: Final = "Committed weapons"
KIEL_DELIVERED_SHEET: Final = "Delivered weapons"

_KIEL_REQUIRED: Final = (
    "ID",
    "countries",
    "Announcement Date",
    "Type of Aid General",
    "Type of Aid Specific",
    "Monetary Value as Given by Source",
    "Type of item",
    "Sub-type of item",
    "No. of Units",
    "No. of Units delivered (in-kind military aid)",
    "Unit Price in USD",
    "Value committed (own estimate, in USD)",
    "Value delivered (own estimate, in USD)",
    "Total",
    "Converted Value in EUR",
    "Total monetary value delivered in EUR",
    "Total_value_dummy (1 is first row in the package)",
)

#: words that mean "a number exists but was not disclosed" (kept as missing, flagged)
_UNDISCLOSED: Final = frozenset({"undisclosed", "no price", "not given"})

#: (pattern on the sub-type, then the type) → weapon category; first match wins
_KIEL_CATEGORY_RULES: Final[tuple[tuple[str, str], ...]] = (
    (r"manpads|anti-aircraft|air defen|anti-drone|surface-to-air", "air_defense"),
    (r"mlrs|multiple rocket", "mlrs"),
    (r"howitzer|mortar|\b1[0-9]{2}mm\b|artillery", "artillery"),
    (
        r"tank|\(mbt\)|ifv|apc|armoured|armored|\(auv\)|\(ppv\)|\(arv\)|\(vlb\)|afv",
        "armour",
    ),
    (r"anti-armor|anti-tank|\(law\)|recoilless", "anti_tank"),
    (r"aircraft|drone|loitering|aviation|\(asm\)|air-launched|helicopter", "aviation_drones"),
    (r"ship|vessel|naval|coastal|ashm|mine", "naval"),
    (r"salw|small arms|grenade|rifle|light armaments|infantry|explosive", "small_arms"),
    (r"heavy weapon", "heavy_weapon_unspecified"),
    (r"portable defence", "portable_defence_unspecified"),
    (r"military equipment|other|humanitarian", "equipment"),
)

#: the heavy-weapon matrices' ``Type`` → weapon category
_HEAVY_TYPE_CATEGORY: Final = {
    "afv (armoured fighting vehicle)": "armour",
    "tank": "armour",
    "howitzer": "artillery",
    "mlrs": "mlrs",
}

_DATE_UNTIL = re.compile(r"^until\s+(\d{1,2})/(\d{1,2})/(\d{2,4})$", re.I)
_DATE_SINCE = re.compile(r"^since\s+(\d{1,2})/(\d{1,2})/(\d{2,4})$", re.I)
_DATE_BETWEEN = re.compile(
    r"^between\s+(\d{1,2})/(\d{1,2})/(\d{2,4})\s*(?:&|and)\s*(\d{1,2})/(\d{1,2})/(\d{2,4})$", re.I
)
_DATE_MONTH = re.compile(r"^(?:not specified|unclear),\s*(\d{1,2})/(\d{2,4})$", re.I)
_COVERAGE = re.compile(r"covering\s+(\w+ \d{1,2})\s+to\s+(\w+ \d{1,2}),\s*(\d{4})", re.I)


def _mdy(m: str, d: str, y: str) -> date:
    year = int(y)
    if year < 100:
        year += 2000
    return date(year, int(m), int(d))


@dataclass(frozen=True)
class KielDate:
    """An announcement date as the tracker states it.

    ``precision``: ``day`` (a date), ``until`` (on or before ``on``), ``since`` (on or after
    ``start``), ``between`` (``start`` to ``on``), ``month`` (some day of ``on``'s month).
    """

    on: date | None
    start: date | None
    precision: str


def parse_kiel_date(value: Any) -> KielDate | None:
    """The announcement date of a tracker cell, or ``None`` when it has no date at all."""
    if isinstance(value, datetime):
        return KielDate(value.date(), None, "day")
    if isinstance(value, date):
        return KielDate(value, None, "day")
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    try:
        if m := _DATE_UNTIL.match(text):
            return KielDate(_mdy(*m.groups()), None, "until")
        if m := _DATE_SINCE.match(text):
            d = _mdy(*m.groups())
            return KielDate(d, d, "since")
        if m := _DATE_BETWEEN.match(text):
            g = m.groups()
            return KielDate(_mdy(*g[3:]), _mdy(*g[:3]), "between")
        if m := _DATE_MONTH.match(text):
            month, year = int(m.group(1)), int(m.group(2))
            year = year + 2000 if year < 100 else year
            return KielDate(date(year, month, 1), None, "month")
    except ValueError:
        return None
    return None


def aid_category(item_type: Any, item_subtype: Any) -> tuple[str | None, bool]:
    """Weapon category of a tracker item and whether it is ammunition.

    The sub-type decides when given (``155mm howitzer ammunition`` → artillery), the type
    otherwise; ``None`` when neither says anything.
    """
    texts = [str(t).strip().lower() for t in (item_subtype, item_type)]
    texts = [t for t in texts if t not in ("", ".", "none", "0")]
    if not texts:
        return "unspecified", False
    ammo = any("ammunition" in t or "ammo" in t for t in texts)
    for text in texts:
        for pattern, category in _KIEL_CATEGORY_RULES:
            if re.search(pattern, text):
                return category, ammo
    return "other", ammo


def _kiel_number(value: Any) -> tuple[float, bool, str | None]:
    """(number or NaN, disclosed?, problem) of a tracker cell; '.' is missing."""
    if value is None:
        return np.nan, True, None
    if isinstance(value, bool):
        return float(value), True, None
    if isinstance(value, int | float):
        return float(value), True, None
    text = str(value).strip()
    if text in ("", "."):
        return np.nan, True, None
    if text.lower() in _UNDISCLOSED:
        return np.nan, False, None
    try:
        return float(text.replace(",", "")), True, None
    except ValueError:
        return np.nan, True, text


@dataclass
class KielFrames:
    """What the tracker workbook yields."""

    aid: pd.DataFrame
    heavy_weapons: pd.DataFrame
    quarantine: pd.DataFrame
    coverage_end: date | None
    rows_read: int


_KIEL_NUMBERS: Final = (
    ("No. of Units", "units_committed"),
    ("No. of Units delivered (in-kind military aid)", "units_delivered"),
    ("Unit Price in USD", "unit_price_usd"),
    ("Value committed (own estimate, in USD)", "value_committed_usd"),
    ("Value delivered (own estimate, in USD)", "value_delivered_usd"),
    ("Monetary Value as Given by Source", "value_as_given"),
    ("Total", "package_total_as_given"),
    ("Converted Value in EUR", "package_value_eur"),
    ("Total monetary value delivered in EUR", "package_delivered_eur"),
)


def _coverage_end(wb: Any) -> date | None:
    if "ReadMe" not in wb.sheetnames:
        return None
    for row in wb["ReadMe"].iter_rows(max_row=10, values_only=True):
        for v in row:
            if isinstance(v, str) and (m := _COVERAGE.search(v)):
                try:
                    return datetime.strptime(f"{m.group(2)} {m.group(3)}", "%B %d %Y").date()
                except ValueError:
                    return None
    return None


def kiel_from_workbook(path: Path, *, coverage_end: date | None = None) -> KielFrames:
    """Read the tracker workbook.

    Parameters
    ----------
    coverage_end
        The last day the release covers; an announcement dated after it is quarantined as
        a likely typo. Default: read from the ReadMe sheet ("covering ... to October 3,
        2022"), else no upper limit.

    Rows are Excel rows: ``line_no`` is the row number in the sheet (header = 1).
    """
    import openpyxl

    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises zipfile/KeyError/InvalidFileException
        msg = f"{path.name} is not a readable Excel workbook: {e}"
        raise SourceFormatError(msg) from e
    try:
        missing = [s for s in (KIEL_MAIN_SHEET,) if s not in wb.sheetnames]
        if missing:
            msg = (
                f"{path.name} is not a Kiel Ukraine Support Tracker workbook: sheet "
                f"{missing[0]!r} is missing (sheets: {', '.join(wb.sheetnames[:8])}, ...)"
            )
            raise SourceFormatError(msg)
        end = coverage_end or _coverage_end(wb)
        rows = list(wb[KIEL_MAIN_SHEET].iter_rows(values_only=True))
        aid, quarantine, n = _kiel_main(path, rows, end)
        heavy, q2 = _kiel_heavy(wb)
    finally:
        wb.close()
    return KielFrames(aid, heavy, pd.concat([quarantine, q2], ignore_index=True), end, n)


def _kiel_main(
    path: Path, rows: list[tuple[Any, ...]], end: date | None
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    if not rows:
        msg = f"{path.name}: sheet {KIEL_MAIN_SHEET!r} is empty"
        raise SourceFormatError(msg)
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    col: dict[str, int] = {}
    for i, h in enumerate(header):
        col.setdefault(h, i)  # a repeated header (Sub-type of item) keeps its first column
    missing = [c for c in _KIEL_REQUIRED if c not in col]
    if missing:
        msg = (
            f"{path.name}: sheet {KIEL_MAIN_SHEET!r} lacks column(s) "
            f"{', '.join(map(repr, missing))}"
        )
        raise SourceFormatError(msg)
    # the item name has no header: it is the column after the source's monetary value
    item_col = col["Monetary Value as Given by Source"] + 1
    low = date(2014, 1, 1)
    records: list[dict[str, Any]] = []
    q_line: list[int] = []
    q_reason: list[str] = []
    q_raw: list[str] = []
    n = 0
    for r_i, row in enumerate(rows[1:], start=2):
        if all(v is None for v in row):
            continue
        n += 1

        def cell(name: str, row: tuple[Any, ...] = row) -> Any:
            i = col[name]
            return row[i] if i < len(row) else None

        raw = {header[i] or f"col{i + 1}": v for i, v in enumerate(row) if v is not None}
        problems: list[str] = []
        aid_id = cell("ID")
        donor = cell("countries")
        if aid_id in (None, "", "."):
            problems.append("ID is empty")
        if donor in (None, "", "."):
            problems.append("countries (the donor) is empty")
        raw_date = cell("Announcement Date")
        when = parse_kiel_date(raw_date)
        shown = raw_date.date().isoformat() if isinstance(raw_date, datetime) else raw_date
        if when is None:
            problems.append(
                f"Announcement Date {shown!r} is not a date (undated row: expected a date, "
                "'until M/D/YYYY', 'between ... and ...' or 'not specified, MM/YY')"
            )
        elif when.on is not None and (when.on < low or (end is not None and when.on > end)):
            limit = f"after the release's coverage end {end}" if end else f"before {low}"
            problems.append(
                f"Announcement Date {shown!r} is {limit}: a year typo? "
                "(not corrected here; fix the source)"
            )
        values: dict[str, float] = {}
        disclosed: dict[str, bool] = {}
        for source_col, name in _KIEL_NUMBERS:
            number, ok, bad = _kiel_number(cell(source_col))
            if bad is not None:
                problems.append(
                    f"{source_col} {bad!r} is not a number (expected digits, '.' for missing "
                    "or 'undisclosed')"
                )
            values[name] = number
            disclosed[name] = ok
        if problems:
            q_line.append(r_i)
            q_reason.append("; ".join(problems))
            q_raw.append(_json_row(raw))
            continue
        assert when is not None
        aid_type = str(cell("Type of Aid General") or "").strip()
        item_type = cell("Type of item")
        item_subtype = cell("Sub-type of item")
        category, ammo = (
            aid_category(item_type, item_subtype) if aid_type == "Military" else (None, False)
        )
        item = row[item_col] if item_col < len(row) else None
        records.append(
            {
                schema.LINE_NO: r_i,
                "aid_id": str(aid_id).strip(),
                "donor": str(donor).strip(),
                "announced_on": when.on,
                "announced_from": when.start,
                "date_precision": when.precision,
                "date_text": None if isinstance(raw_date, datetime) else str(raw_date),
                "aid_type": aid_type,
                "aid_type_specific": _text(cell("Type of Aid Specific")),
                "item": _text(item),
                "item_type": _text(item_type),
                "item_subtype": _text(item_subtype),
                "category": category,
                "is_ammunition": ammo,
                **values,
                "units_disclosed": disclosed["units_committed"],
                "package_first": _kiel_number(
                    cell("Total_value_dummy (1 is first row in the package)")
                )[0]
                == 1,
                "currency": _text(cell("Original Currency"))
                if "Original Currency" in col
                else None,
                "explanation": _text(cell("Explanation")) if "Explanation" in col else None,
                "source_url": _text(cell("Source of Aid 1")) if "Source of Aid 1" in col else None,
                schema.RAW: _json_row(raw),
            }
        )
    aid = pd.DataFrame.from_records(records)
    if not aid.empty:
        for c in ("announced_on", "announced_from"):
            aid[c] = pd.to_datetime(aid[c]).dt.date
    return aid, _quarantine(q_line, q_reason, q_raw), n


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", ".") else text


def _matrix(ws: Any) -> tuple[list[str], list[tuple[int, tuple[Any, ...]]]]:
    rows = list(ws.iter_rows(values_only=True))
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    body = [(i, r) for i, r in enumerate(rows[1:], start=2) if r and r[0] not in (None, "")]
    return header, body


def _kiel_heavy(wb: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The heavy-weapon matrices (system × donor) as one long frame: committed, delivered."""
    cols = [
        schema.LINE_NO,
        "system",
        "weapon_type",
        "weapon_subtype",
        "category",
        "donor",
        "committed",
        "delivered",
        "delivered_reported",
    ]
    if KIEL_COMMITTED_SHEET not in wb.sheetnames:
        return pd.DataFrame(columns=cols), _quarantine([], [], [])
    q_line: list[int] = []
    q_reason: list[str] = []
    q_raw: list[str] = []
    frames = {}
    for sheet in (KIEL_COMMITTED_SHEET, KIEL_DELIVERED_SHEET):
        if sheet not in wb.sheetnames:
            continue
        header, body = _matrix(wb[sheet])
        donors = [(i, h) for i, h in enumerate(header) if i >= 5 and h]
        recs = []
        for line, row in body:
            counts = {}
            bad = []
            for i, donor in donors:
                v, _, problem = _kiel_number(row[i] if i < len(row) else None)
                if problem is not None:
                    bad.append(f"{donor} {problem!r} is not a number")
                counts[donor] = 0.0 if np.isnan(v) else v
            total, _, _ = _kiel_number(row[1])
            if not bad and not np.isnan(total) and abs(total - sum(counts.values())) > 0.5:
                bad.append(
                    f"Total Number {total:g} differs from the sum over donors "
                    f"{sum(counts.values()):g}"
                )
            if bad:
                q_line.append(line)
                q_reason.append(f"{sheet}: " + "; ".join(bad))
                q_raw.append(_json_row({header[i] or f"col{i + 1}": v for i, v in enumerate(row)}))
                continue
            wtype = str(row[2] or "").strip()
            for donor, v in counts.items():
                recs.append(
                    {
                        schema.LINE_NO: line,
                        "system": str(row[0]).strip(),
                        "weapon_type": wtype,
                        "weapon_subtype": " ".join(str(row[3] or "").split()),
                        "category": _HEAVY_TYPE_CATEGORY.get(wtype.lower(), "other"),
                        "donor": donor,
                        "units": v,
                    }
                )
        frames[sheet] = pd.DataFrame.from_records(recs)
    com = frames[KIEL_COMMITTED_SHEET].rename(columns={"units": "committed"})
    key = ["system", "donor"]
    if KIEL_DELIVERED_SHEET in frames and not frames[KIEL_DELIVERED_SHEET].empty:
        dl = frames[KIEL_DELIVERED_SHEET][[*key, "units"]].rename(columns={"units": "delivered"})
        out = com.merge(dl, on=key, how="left")
    else:
        out = com.assign(delivered=np.nan)
    # a system missing from the delivered sheet has no reported delivery (not zero)
    out["delivered_reported"] = out["delivered"].notna()
    out = out[(out["committed"] > 0) | (out["delivered"].fillna(0) > 0)]
    return out[cols].reset_index(drop=True), _quarantine(q_line, q_reason, q_raw)


# =======================================================================================
# Missile and drone attacks (Ukrainian Air Force reports)
# =======================================================================================
AIR_ATTACK_COLUMNS: Final = frozenset(
    {"time_start", "time_end", "model", "launched", "destroyed", "source"}
)

#: weapon classes of air attacks
AIR_CLASSES: Final = (
    "cruise_missile",
    "ballistic_missile",
    "sam_ground_attack",
    "air_to_surface_missile",
    "guided_bomb",
    "attack_drone",
    "decoy",
    "reconnaissance_drone",
    "unknown_uav",
    "unknown_missile",
    "mixed",
    "unmapped",
)

#: weapon model (as the data set spells it) → class. Kinzhal is aero-ballistic and the
#: Air Force counts it with the ballistic missiles; S-300/S-400 fired at ground targets
#: are kept apart because almost none are reported intercepted. Shahed-type rows include
#: decoys (Gerbera, Parodiya), which the reports do not separate.
WEAPON_MODEL_CLASS: Final[dict[str, str]] = {
    "Shahed-136/131": "attack_drone",
    "Lancet": "attack_drone",
    "Молнія": "attack_drone",
    "Привет-82": "attack_drone",
    "Kub": "attack_drone",
    "Mohajer-6": "attack_drone",
    "Orion": "attack_drone",
    "Gerbera": "decoy",
    "Orlan-10": "reconnaissance_drone",
    "Orlan-30": "reconnaissance_drone",
    "Supercam": "reconnaissance_drone",
    "ZALA": "reconnaissance_drone",
    "Merlin-VR": "reconnaissance_drone",
    "Reconnaissance UAV": "reconnaissance_drone",
    "Forpost": "reconnaissance_drone",
    "Eleron": "reconnaissance_drone",
    "Granat-4": "reconnaissance_drone",
    "Картограф": "reconnaissance_drone",
    "Фенікс": "reconnaissance_drone",
    "Unknown UAV": "unknown_uav",
    "X-101/X-555": "cruise_missile",
    "Kalibr": "cruise_missile",
    "Iskander-K": "cruise_missile",
    "X-59": "cruise_missile",
    "X-69": "cruise_missile",
    "X-59/X-69": "cruise_missile",
    "X-59MK2": "cruise_missile",
    "X-35": "cruise_missile",
    "X-22": "cruise_missile",
    "X-32": "cruise_missile",
    "P-800 Oniks": "cruise_missile",
    "3M22 Zircon": "cruise_missile",
    "Banderol": "cruise_missile",
    "Iskander-M": "ballistic_missile",
    "KN-23": "ballistic_missile",
    "Iskander-M/KN-23": "ballistic_missile",
    "X-47 Kinzhal": "ballistic_missile",
    "Ballistic Missile": "ballistic_missile",
    "Intercontinental Ballistic Missile": "ballistic_missile",
    "C-300": "sam_ground_attack",
    "C-400": "sam_ground_attack",
    "C-300/C-400": "sam_ground_attack",
    "X-31": "air_to_surface_missile",
    "X-31P": "air_to_surface_missile",
    "X-31PD": "air_to_surface_missile",
    "GBU": "guided_bomb",
    "Aerial Bomb": "guided_bomb",
    "Unknown Missile": "unknown_missile",
}


def weapon_class(model: str) -> str:
    """The class of a weapon model; a combined entry ``A and B`` gets the class its parts
    share, or ``mixed``; a model not in :data:`WEAPON_MODEL_CLASS` is ``unmapped``."""
    parts = [p.strip() for p in str(model).split(" and ") if p.strip()]
    classes = {WEAPON_MODEL_CLASS.get(p, "unmapped") for p in parts}
    if not classes:
        return "unmapped"
    if len(classes) == 1:
        return classes.pop()
    return "unmapped" if "unmapped" in classes else "mixed"


_DAY_RE = r"^\d{4}-\d{2}-\d{2}$"
_MINUTE_RE = r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}$"


def parse_local_times(text: pd.Series, *, tz: str = KYIV_TZ) -> tuple[pd.Series, pd.Series]:
    """Times given either as ``YYYY-MM-DD`` or ``YYYY-MM-DD H:MM`` in local time → UTC.

    Returns (UTC times, precision ``day``/``minute``); unparseable values are NaT with
    precision ``None``. A date stands for local midnight of that day. In the autumn hour
    that occurs twice, the earlier (summer-time) reading is taken.
    """
    t = text.fillna("").astype(str).str.strip()
    is_day = t.str.match(_DAY_RE)
    is_min = t.str.match(_MINUTE_RE)
    norm = t.str.replace(r" (\d):", r" 0\1:", regex=True)
    naive = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    if is_day.any():
        naive[is_day] = pd.to_datetime(norm[is_day], format="%Y-%m-%d", errors="coerce")
    if is_min.any():
        naive[is_min] = pd.to_datetime(norm[is_min], format="%Y-%m-%d %H:%M", errors="coerce")
    local = naive.dt.tz_localize(
        tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    utc = local.dt.tz_convert("UTC")
    precision = pd.Series(None, index=t.index, dtype=object)
    precision[is_day & utc.notna()] = "day"
    precision[is_min & utc.notna()] = "minute"
    return utc, precision


def _count(text: pd.Series) -> pd.Series:
    return pd.to_numeric(
        text.fillna("").astype(str).str.strip().replace("", np.nan), errors="coerce"
    )


def _read_csv_text(path: Path, required: frozenset[str], title: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        msg = f"{path.name} is not a readable CSV file: {e}"
        raise SourceFormatError(msg) from e
    missing = sorted(required - set(frame.columns))
    if missing:
        msg = (
            f"{path.name} is not a {title} file: column(s) {', '.join(map(repr, missing))} "
            f"missing (found: {', '.join(frame.columns[:10])})"
        )
        raise SourceFormatError(msg)
    # line numbers: header is line 1 (no record in these files spans lines)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def air_attacks_from_csv(path: Path, *, tz: str = KYIV_TZ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``missile_attacks_daily.csv``: one row per weapon model per attack wave.

    ``time_start``/``time_end`` mix dates (day precision) and local date-times (Kyiv
    time); ``is_shahed`` is a count of Shahed drones in a mixed wave, not a flag. A row
    without ``launched`` is quarantined; one without ``destroyed`` is kept (launches still
    count) with ``destroyed`` missing, and left out of interception rates.
    """
    raw = _read_csv_text(path, AIR_ATTACK_COLUMNS, "missile/drone attack")
    raw_json = rows_to_json(raw)
    line_no = pd.Series(raw.index, index=raw.index)
    checks = RowChecks(raw.index)
    start, start_prec = parse_local_times(raw["time_start"], tz=tz)
    end, end_prec = parse_local_times(raw["time_end"], tz=tz)
    model = raw["model"].str.strip()
    checks.flag(model == "", "model is empty")
    checks.flag(
        start.isna(),
        "time_start '" + raw["time_start"] + "' is not YYYY-MM-DD or YYYY-MM-DD HH:MM",
    )
    has_end = raw["time_end"].str.strip() != ""
    checks.flag(
        has_end & end.isna(),
        "time_end '" + raw["time_end"] + "' is not YYYY-MM-DD or YYYY-MM-DD HH:MM",
    )
    launched = _count(raw["launched"])
    destroyed = _count(raw["destroyed"])
    checks.flag(
        raw["launched"].str.strip() == "",
        "launched is empty: the number launched is not given",
    )
    for name, values in (("launched", launched), ("destroyed", destroyed)):
        given = raw[name].str.strip() != ""
        checks.flag(given & values.isna(), f"{name} '" + raw[name] + "' is not a number")
        checks.flag(
            values.notna() & ((values < 0) | (values % 1 != 0)),
            f"{name} '" + raw[name] + "' is not a whole number >= 0",
        )
    checks.flag(
        destroyed > launched,
        "destroyed '" + raw["destroyed"] + "' is more than launched '" + raw["launched"] + "'",
    )
    shahed = _count(raw["is_shahed"]) if "is_shahed" in raw else pd.Series(np.nan, raw.index)
    if "is_shahed" in raw:
        checks.flag(
            (raw["is_shahed"].str.strip() != "")
            & (shahed.isna() | (shahed < 0) | (shahed % 1 != 0)),
            "is_shahed '" + raw["is_shahed"] + "' is not a count (whole number >= 0)",
        )
        checks.flag(
            shahed > launched,
            "is_shahed '"
            + raw["is_shahed"]
            + "' (Shahed drones in the wave) is more than launched '"
            + raw["launched"]
            + "'",
        )
    # a window that ends before it starts (both known to the minute)
    both_min = (start_prec == "minute") & (end_prec == "minute")
    checks.flag(
        both_min & (end < start),
        "time_end '" + raw["time_end"] + "' is before time_start '" + raw["time_start"] + "'",
    )
    ok = checks.ok
    quarantine = checks.quarantine(raw_json, line_no)

    def opt(col: str) -> pd.Series:
        if col not in raw:
            return pd.Series(None, index=raw.index, dtype=object)
        return raw[col].str.strip().replace("", None)

    day = start.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    out = pd.DataFrame(
        {
            schema.LINE_NO: line_no,
            "time_start": start,
            "time_start_precision": start_prec,
            "time_end": end,
            "time_end_precision": end_prec,
            "day": day,
            "model": model,
            "weapon_class": model.map(weapon_class),
            "launched": launched,
            "destroyed": destroyed,
            "not_reach_goal": _count(opt("not_reach_goal")),
            "still_attacking": _count(opt("still_attacking")),
            "is_shahed": shahed,
            "num_hit_location": _count(opt("num_hit_location")),
            "num_fall_fragment_location": _count(opt("num_fall_fragment_location")),
            "launch_place": opt("launch_place"),
            "target": opt("target"),
            "target_main": opt("target_main"),
            "carrier": opt("carrier"),
            "affected_region": opt("affected region"),
            "report_source": opt("source"),
            schema.RAW: raw_json,
        }
    )[ok]
    out["launched"] = out["launched"].astype("int64")
    out["destroyed"] = out["destroyed"].astype("Int64")
    return out.reset_index(drop=True), quarantine


# =======================================================================================
# Official air-raid alerts
# =======================================================================================
AIR_ALERT_COLUMNS: Final = frozenset({"oblast", "level", "started_at", "finished_at"})
ALERT_LEVELS: Final = ("oblast", "raion", "hromada")
_REGION_RE = r"(?i)(?:^.+ oblast$|^Kyiv City$|^Sevastopol(?: City)?$|Krym)"


def air_alerts_from_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the official air-raid alerts (``official_data_en.csv``): one row per alert."""
    raw = _read_csv_text(path, AIR_ALERT_COLUMNS, "air-raid alert")
    for c in ("raion", "hromada"):
        if c not in raw:
            raw[c] = ""
    raw_json = rows_to_json(raw)
    line_no = pd.Series(raw.index, index=raw.index)
    checks = RowChecks(raw.index)
    oblast = raw["oblast"].str.strip()
    raion = raw["raion"].str.strip()
    bad_region = ~oblast.str.contains(_REGION_RE, regex=True)
    swapped = bad_region & raion.str.contains(_REGION_RE, regex=True)
    checks.flag(
        swapped,
        "oblast '" + oblast + "' is not an oblast (raion holds '" + raion + "': the two columns "
        "look swapped)",
    )
    checks.flag(
        bad_region,
        "oblast '" + oblast + "' is not an oblast name ('... oblast' or 'Kyiv City')",
    )
    level = raw["level"].str.strip()
    checks.flag(
        ~level.isin(ALERT_LEVELS),
        "level '" + raw["level"] + "' is not one of " + ", ".join(ALERT_LEVELS),
    )
    started = pd.to_datetime(
        raw["started_at"].str.strip(), utc=True, errors="coerce", format="ISO8601"
    )
    finished = pd.to_datetime(
        raw["finished_at"].str.strip(), utc=True, errors="coerce", format="ISO8601"
    )
    checks.flag(started.isna(), "started_at '" + raw["started_at"] + "' is not an ISO 8601 time")
    checks.flag(
        finished.isna(),
        "finished_at '" + raw["finished_at"] + "' is not an ISO 8601 time (alert still running?)",
    )
    checks.flag(
        finished < started,
        "finished_at '" + raw["finished_at"] + "' is before started_at '" + raw["started_at"] + "'",
    )
    ok = checks.ok
    out = pd.DataFrame(
        {
            schema.LINE_NO: line_no,
            "oblast": oblast,
            "raion": raion.replace("", None),
            "hromada": raw["hromada"].str.strip().replace("", None),
            "level": level,
            "started_at": started,
            "finished_at": finished,
            "duration_min": (finished - started).dt.total_seconds() / 60.0,
            "alert_source": raw["source"].str.strip() if "source" in raw else None,
            schema.RAW: raw_json,
        }
    )[ok]
    return out.reset_index(drop=True), checks.quarantine(raw_json, line_no)


# =======================================================================================
# Equipment losses (context series)
# =======================================================================================
def _json_records(path: Path, title: str) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        msg = f"{path.name} is not valid JSON: {e}"
        raise SourceFormatError(msg) from e
    if not isinstance(data, list):
        msg = f"{path.name} is not a {title} file: expected a JSON array of records"
        raise SourceFormatError(msg)
    return data


def losses_from_mod_json(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ukrainian MoD cumulative Russian equipment losses (one record per day) as a long
    frame: line_no (record number), date, category, cumulative. A party's claims."""
    recs = _json_records(path, "MoD losses")
    rows, q_line, q_reason, q_raw = [], [], [], []
    for i, rec in enumerate(recs, start=1):
        if not isinstance(rec, dict) or "date" not in rec:
            q_line.append(i)
            q_reason.append("record has no 'date'")
            q_raw.append(json.dumps(rec, default=str))
            continue
        try:
            day = date.fromisoformat(str(rec["date"]))
        except ValueError:
            q_line.append(i)
            q_reason.append(f"date {rec['date']!r} is not YYYY-MM-DD")
            q_raw.append(json.dumps(rec, default=str))
            continue
        bad = [
            f"{k} {v!r} is not a number"
            for k, v in rec.items()
            if k not in ("date", "day", "greatest losses direction")
            and v is not None
            and not isinstance(v, int | float)
        ]
        if bad:
            q_line.append(i)
            q_reason.append("; ".join(bad))
            q_raw.append(json.dumps(rec, default=str))
            continue
        for k, v in rec.items():
            if k in ("date", "day", "greatest losses direction", "personnel*") or v is None:
                continue
            rows.append({schema.LINE_NO: i, "date": day, "category": k, "cumulative": float(v)})
    frame = pd.DataFrame(rows, columns=[schema.LINE_NO, "date", "category", "cumulative"])
    return frame, _quarantine(q_line, q_reason, q_raw)


def losses_from_oryx_json(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oryx visually confirmed losses by model (an undercount by design)."""
    recs = _json_records(path, "Oryx losses")
    rows, q_line, q_reason, q_raw = [], [], [], []
    for i, rec in enumerate(recs, start=1):
        total = rec.get("losses_total") if isinstance(rec, dict) else None
        if not isinstance(total, int | float) or total < 0:
            q_line.append(i)
            q_reason.append(f"losses_total {total!r} is not a count")
            q_raw.append(json.dumps(rec, default=str))
            continue
        rows.append(
            {
                schema.LINE_NO: i,
                "equipment_oryx": rec.get("equipment_oryx"),
                "model": rec.get("model"),
                "manufacturer": rec.get("manufacturer"),
                "losses_total": float(total),
                "equipment_ua": rec.get("equipment_ua"),
            }
        )
    cols = [
        schema.LINE_NO,
        "equipment_oryx",
        "model",
        "manufacturer",
        "losses_total",
        "equipment_ua",
    ]
    return pd.DataFrame(rows, columns=cols), _quarantine(q_line, q_reason, q_raw)


def is_oryx_json(path: Path) -> bool:
    """Whether a losses JSON file is the Oryx by-model table (else the MoD daily series)."""
    head = Path(path).read_text(encoding="utf-8")[:2000]
    return '"equipment_oryx"' in head or '"losses_total"' in head


# =======================================================================================
# Populated places (GeoNames)
# =======================================================================================
_GEONAMES_COLUMNS: Final = (
    "geonameid",
    "name",
    "asciiname",
    "alternatenames",
    "lat",
    "lon",
    "feature_class",
    "feature_code",
    "country_code",
    "cc2",
    "admin1",
    "admin2",
    "admin3",
    "admin4",
    "population",
    "elevation",
    "dem",
    "timezone",
    "modification_date",
)


def places_from_geonames(path: Path, *, country: str | None = "UA") -> pd.DataFrame:
    """Populated places of a GeoNames dump (``cities15000.zip`` or its ``.txt``): name,
    lon, lat (WGS84), population, feature code, admin1; only ``country`` (ISO code) if given."""
    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    opts: dict[str, Any] = {
        "sep": "\t",
        "header": None,
        "names": list(_GEONAMES_COLUMNS),
        "dtype": {"admin1": str, "admin2": str, "cc2": str, "country_code": str},
        "quoting": 3,
        "keep_default_na": False,
        "na_values": [""],
    }
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".txt")]
            if not names:
                msg = f"{path.name} holds no GeoNames .txt file"
                raise SourceFormatError(msg)
            with zf.open(names[0]) as fh:
                frame = pd.read_csv(fh, **opts)
    else:
        frame = pd.read_csv(path, **opts)
    if country:
        frame = frame[frame["country_code"] == country]
    out = frame[
        ["geonameid", "name", "asciiname", "lon", "lat", "feature_code", "admin1", "population"]
    ].copy()
    out["population"] = pd.to_numeric(out["population"], errors="coerce").fillna(0).astype("int64")
    return out.reset_index(drop=True)
