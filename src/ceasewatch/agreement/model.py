"""The ceasefire agreement as data: parsing, validation, and the stored document.

An agreement is a YAML file with GeoJSON beside it (format: ``docs/agreement-format.md``).
:func:`validate_agreement` reports every problem at once, each naming the file, the field
and what was expected; :func:`load_agreement` raises :class:`AgreementError` with all of
them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import shapely
import yaml
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from ceasewatch.errors import AgreementError
from ceasewatch.normalize import schema

KNOWN_KEYS = frozenset(
    {
        "name",
        "parties",
        "effective",
        "line_of_contact",
        "control",
        "zones",
        "prohibited_everywhere",
        "sectors",
        "boundary",
        "report_cutoff",
        "timezone",
        "severity",
        "version_label",
        "notes",
        "escalation",
        "alerts",
    }
)
#: fields the agreement carries for other components (response clocks, alert policy)
EXTRA_KEYS = ("escalation", "alerts")
PROHIBITABLE = frozenset({*schema.CATEGORIES, *schema.WEAPON_CLASSES, schema.ANY_MILITARY_ACTIVITY})
SEVERITY_KEYS = frozenset(
    {
        "level",
        "categories",
        "weapon_classes",
        "zones",
        "rules",
        "min_fatalities",
        "beyond_km",
        "weapon_in_zone",
    }
)

#: the built-in severity ladder, used when an agreement defines none: the highest level
#: whose conditions all hold wins; a violation matching none is a ``notice``
DEFAULT_SEVERITY: tuple[dict[str, Any], ...] = (
    {"level": "breach", "categories": ["missile_strike", "air_strike"]},
    # a weapon inside the zone it must be withdrawn from (Minsk: artillery 50 km, MLRS 70 km…)
    {"level": "breach", "weapon_in_zone": True},
    {"level": "breach", "min_fatalities": 1},
    {
        "level": "warning",
        "categories": ["shelling", "drone_strike", "armed_clash", "remote_explosive"],
    },
)

Problem = tuple[str, str, str]


@dataclass(frozen=True)
class ZoneBand:
    """A band of ``width_km`` on either side of the line and what it prohibits."""

    id: str
    width_km: float
    prohibits: tuple[str, ...]


@dataclass(frozen=True)
class Agreement:
    """A parsed, validated agreement version (geometry in WGS84 lon/lat)."""

    name: str
    parties: tuple[str, ...]
    effective: datetime
    line: BaseGeometry
    zones: tuple[ZoneBand, ...]
    prohibited_everywhere: tuple[str, ...]
    control: tuple[tuple[str, BaseGeometry], ...] = ()
    boundary: BaseGeometry | None = None
    sectors: tuple[tuple[str, BaseGeometry], ...] = ()
    report_cutoff: time = time(19, 30)
    timezone: str = "Europe/Kyiv"
    severity: tuple[dict[str, Any], ...] = DEFAULT_SEVERITY
    version_label: str | None = None
    sha256: str = ""
    version: int | None = None
    source_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def report_period(self, day: date) -> tuple[datetime, datetime]:
        """The daily report's period for ``day``: (cut-off the day before, cut-off], UTC."""
        end = datetime.combine(day, self.report_cutoff, tzinfo=self.tz)
        start = datetime.combine(
            date.fromordinal(day.toordinal() - 1), self.report_cutoff, tzinfo=self.tz
        )
        return start.astimezone(UTC), end.astimezone(UTC)


# --- reading -------------------------------------------------------------------------


def _resolve(path: Path) -> tuple[Path, Path]:
    """(yaml file, folder) for a folder or a YAML path."""
    if path.is_dir():
        for name in ("agreement.yaml", "agreement.yml"):
            if (path / name).is_file():
                return path / name, path
        ymls = sorted(path.glob("*.y*ml"))
        if len(ymls) == 1:
            return ymls[0], path
        msg = f"{path}: no agreement.yaml in this folder"
        raise AgreementError(msg, [(str(path), "-", "a folder with agreement.yaml")])
    return path, path.parent


def _read_geojson(
    base: Path, ref: Any, key: str, yaml_name: str, problems: list[Problem]
) -> list[dict[str, Any]] | None:
    if not isinstance(ref, str) or not ref.strip():
        problems.append((yaml_name, key, f"expected a path to a GeoJSON file, got {ref!r}"))
        return None
    gpath = base / ref
    if not gpath.is_file():
        problems.append((yaml_name, key, f"file {ref!r} does not exist (relative to {base})"))
        return None
    try:
        doc = json.loads(gpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append((ref, "-", f"not valid JSON: {e}"))
        return None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            problems.append((ref, "features", "expected a list of features"))
            return None
        return [f for f in feats if isinstance(f, dict)]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    if isinstance(doc, dict) and "coordinates" in doc:
        return [{"type": "Feature", "properties": {}, "geometry": doc}]
    problems.append((ref, "type", "expected a GeoJSON FeatureCollection, Feature or geometry"))
    return None


def _geoms(
    feats: list[dict[str, Any]], ref: str, kinds: tuple[str, ...], problems: list[Problem]
) -> list[tuple[dict[str, Any], BaseGeometry]]:
    out = []
    for i, feat in enumerate(feats):
        try:
            geom = shape(feat.get("geometry"))
        except Exception as e:  # shapely raises several kinds for bad GeoJSON
            problems.append((ref, f"features[{i}].geometry", f"not a valid geometry: {e}"))
            continue
        if geom.geom_type not in kinds:
            problems.append(
                (
                    ref,
                    f"features[{i}].geometry",
                    f"expected {' or '.join(kinds)}, got {geom.geom_type}",
                )
            )
            continue
        if geom.is_empty:
            problems.append((ref, f"features[{i}].geometry", "geometry is empty"))
            continue
        b = geom.bounds
        if b[0] < -180 or b[2] > 180 or b[1] < -90 or b[3] > 90:
            problems.append(
                (ref, f"features[{i}].geometry", f"coordinates outside WGS84 lon/lat: {b}")
            )
            continue
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        out.append((feat.get("properties") or {}, geom))
    return out


def _datetime(value: Any, yaml_name: str, key: str, problems: list[Problem]) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            problems.append(
                (
                    yaml_name,
                    key,
                    f"expected an ISO 8601 time like 2025-09-01T00:00:00Z, got {value!r}",
                )
            )
            return None
    else:
        problems.append((yaml_name, key, f"expected an ISO 8601 time, got {value!r}"))
        return None
    if dt.tzinfo is None:
        problems.append((yaml_name, key, f"{value!s} has no time zone: add Z or an offset"))
        return None
    return dt.astimezone(UTC)


def _check_items(items: Any, yaml_name: str, key: str, problems: list[Problem]) -> tuple[str, ...]:
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        problems.append((yaml_name, key, f"expected a list of names, got {items!r}"))
        return ()
    unknown = [x for x in items if x not in PROHIBITABLE]
    if unknown:
        problems.append(
            (
                yaml_name,
                key,
                f"unknown item(s) {', '.join(unknown)}; expected categories "
                f"({', '.join(schema.CATEGORIES)}), weapon classes "
                f"({', '.join(schema.WEAPON_CLASSES)}) or {schema.ANY_MILITARY_ACTIVITY}",
            )
        )
    return tuple(x for x in items if x in PROHIBITABLE)


def parse_agreement(path: Path) -> tuple[Agreement | None, list[Problem]]:
    """Parse and check an agreement; returns it (or None) and every problem found."""
    problems: list[Problem] = []
    path = Path(path)
    if not path.exists():
        return None, [(str(path), "-", "no such file or folder")]
    yml, base = _resolve(path)
    yname = yml.name
    try:
        text = yml.read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return None, [(yname, "-", f"cannot read YAML: {e}")]
    if not isinstance(doc, dict):
        return None, [(yname, "-", "expected a mapping of fields at the top level")]
    sha = hashlib.sha256(text.encode())

    for key in sorted(set(doc) - KNOWN_KEYS):
        problems.append(
            (yname, key, f"unknown field; known fields: {', '.join(sorted(KNOWN_KEYS))}")
        )
    for key in ("name", "parties", "effective", "line_of_contact", "zones"):
        if key not in doc:
            problems.append((yname, key, "required field is missing"))

    name = doc.get("name")
    if "name" in doc and (not isinstance(name, str) or not name.strip()):
        problems.append((yname, "name", f"expected a non-empty text, got {name!r}"))
    parties_raw = doc.get("parties", [])
    parties: tuple[str, ...] = ()
    if (
        not isinstance(parties_raw, list)
        or len(parties_raw) < 2
        or not all(
            isinstance(p, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,15}", p)
            for p in parties_raw
        )
    ):
        if "parties" in doc:
            problems.append(
                (
                    yname,
                    "parties",
                    f"expected a list of at least two party codes "
                    f"like [UA, RU], got {parties_raw!r}",
                )
            )
    elif len(set(parties_raw)) != len(parties_raw):
        problems.append((yname, "parties", f"party codes must be distinct, got {parties_raw!r}"))
    else:
        parties = tuple(parties_raw)
        reserved = {schema.SIDE_UNKNOWN, schema.SIDE_OUTSIDE} & {p.lower() for p in parties}
        if reserved:
            problems.append((yname, "parties", f"{', '.join(reserved)} is reserved"))
    effective = (
        _datetime(doc.get("effective"), yname, "effective", problems)
        if ("effective" in doc)
        else None
    )

    line = None
    if "line_of_contact" in doc:
        feats = _read_geojson(base, doc["line_of_contact"], "line_of_contact", yname, problems)
        if feats is not None:
            ref = str(doc["line_of_contact"])
            geoms = _geoms(feats, ref, ("LineString", "MultiLineString"), problems)
            if geoms:
                line = shapely.line_merge(shapely.union_all([g for _, g in geoms]))
            elif not feats:
                problems.append((ref, "features", "no line features"))

    control: list[tuple[str, BaseGeometry]] = []
    if doc.get("control") is not None:
        feats = _read_geojson(base, doc["control"], "control", yname, problems)
        ref = str(doc["control"])
        for i, (props, geom) in enumerate(
            _geoms(feats or [], ref, ("Polygon", "MultiPolygon"), problems)
        ):
            party = props.get("party")
            if parties and party not in parties:
                problems.append(
                    (
                        ref,
                        f"features[{i}].properties.party",
                        f"expected one of {', '.join(parties)}, got {party!r}",
                    )
                )
                continue
            control.append((str(party), geom))

    boundary = None
    if doc.get("boundary") is not None:
        feats = _read_geojson(base, doc["boundary"], "boundary", yname, problems)
        geoms = _geoms(feats or [], str(doc["boundary"]), ("Polygon", "MultiPolygon"), problems)
        if geoms:
            boundary = shapely.union_all([g for _, g in geoms])

    sectors: list[tuple[str, BaseGeometry]] = []
    if doc.get("sectors") is not None:
        feats = _read_geojson(base, doc["sectors"], "sectors", yname, problems)
        ref = str(doc["sectors"])
        for i, (props, geom) in enumerate(
            _geoms(feats or [], ref, ("Polygon", "MultiPolygon"), problems)
        ):
            label = props.get("sector", props.get("name", props.get("id")))
            if not label:
                problems.append(
                    (
                        ref,
                        f"features[{i}].properties.sector",
                        "each sector needs a `sector` (or `name`) property",
                    )
                )
                continue
            sectors.append((str(label), geom))

    zones: list[ZoneBand] = []
    zraw = doc.get("zones", [])
    if not isinstance(zraw, list) or (not zraw and "zones" in doc):
        problems.append((yname, "zones", f"expected a list of bands, got {zraw!r}"))
        zraw = []
    for i, z in enumerate(zraw):
        key = f"zones[{i}]"
        if not isinstance(z, dict):
            problems.append((yname, key, f"expected {{id, width_km, prohibits}}, got {z!r}"))
            continue
        for k in sorted(set(z) - {"id", "width_km", "prohibits"}):
            problems.append(
                (yname, f"{key}.{k}", "unknown field; expected id, width_km, prohibits")
            )
        zid = z.get("id")
        if not isinstance(zid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", zid or ""):
            problems.append((yname, f"{key}.id", f"expected a lower-case identifier, got {zid!r}"))
            continue
        if zid == schema.ZONE_OUTSIDE:
            problems.append((yname, f"{key}.id", "'outside' is reserved"))
        width = z.get("width_km")
        if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width <= 1000:
            problems.append(
                (yname, f"{key}.width_km", f"expected a number of km in (0, 1000], got {width!r}")
            )
            continue
        prohibits = _check_items(z.get("prohibits", []), yname, f"{key}.prohibits", problems)
        zones.append(ZoneBand(zid, float(width), prohibits))
    ids = [z.id for z in zones]
    if len(set(ids)) != len(ids):
        problems.append((yname, "zones", f"zone ids must be distinct, got {ids}"))
    widths = [z.width_km for z in zones]
    if len(set(widths)) != len(widths):
        problems.append((yname, "zones", f"zone widths must be distinct, got {widths}"))

    pe = _check_items(
        doc.get("prohibited_everywhere", []), yname, "prohibited_everywhere", problems
    )

    cutoff = time(19, 30)
    if "report_cutoff" in doc:
        raw_cut = doc["report_cutoff"]
        # YAML 1.1 reads 19:30 unquoted as a sexagesimal integer (1170)
        if isinstance(raw_cut, int) and not isinstance(raw_cut, bool):
            raw_cut = f"{raw_cut // 60:02d}:{raw_cut % 60:02d}"
        m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", str(raw_cut))
        if m is None:
            problems.append((yname, "report_cutoff", f"expected HH:MM, got {raw_cut!r}"))
        else:
            cutoff = time(int(m.group(1)), int(m.group(2)))
    tz = str(doc.get("timezone", "Europe/Kyiv"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append((yname, "timezone", f"unknown time zone {tz!r}; expected e.g. Europe/Kyiv"))
        tz = "UTC"

    severity: tuple[dict[str, Any], ...] = DEFAULT_SEVERITY
    if "severity" in doc:
        sraw = doc["severity"]
        if not isinstance(sraw, list):
            problems.append((yname, "severity", "expected a list of conditions"))
        else:
            good = []
            for i, cond in enumerate(sraw):
                key = f"severity[{i}]"
                if not isinstance(cond, dict) or cond.get("level") not in schema.SEVERITIES:
                    problems.append(
                        (yname, f"{key}.level", f"expected one of {', '.join(schema.SEVERITIES)}")
                    )
                    continue
                bad = set(cond) - SEVERITY_KEYS
                if bad:
                    problems.append((yname, key, f"unknown condition(s) {', '.join(sorted(bad))}"))
                    continue
                good.append(dict(cond))
            severity = tuple(good)

    if any(k in doc for k in EXTRA_KEYS):
        from ceasewatch.alerts.clocks import escalation_problems

        problems += escalation_problems(doc, yname)

    if problems or line is None or effective is None or not parties or not isinstance(name, str):
        if not problems:
            problems.append((yname, "-", "agreement is incomplete"))
        return None, problems
    agreement = Agreement(
        name=name.strip(),
        parties=parties,
        effective=effective,
        line=line,
        zones=tuple(sorted(zones, key=lambda z: z.width_km)),
        prohibited_everywhere=pe,
        control=tuple(control),
        boundary=boundary,
        sectors=tuple(sectors),
        report_cutoff=cutoff,
        timezone=tz,
        severity=severity,
        version_label=doc.get("version_label"),
        sha256=sha.hexdigest(),
        source_path=str(yml.resolve()),
        extra={k: doc[k] for k in EXTRA_KEYS if k in doc},
    )
    return agreement, []


def validate_agreement(path: Path) -> list[Problem]:
    """Every problem of the agreement at ``path`` (empty when it is valid)."""
    return parse_agreement(path)[1]


def load_agreement(path: Path) -> Agreement:
    """Parse ``path`` or raise :class:`AgreementError` listing every problem."""
    agreement, problems = parse_agreement(path)
    if agreement is None:
        lines = "\n".join(f"  {f}: {k}: {m}" for f, k, m in problems)
        msg = f"agreement {path} has {len(problems)} problem(s):\n{lines}"
        raise AgreementError(msg, problems)
    return agreement


# --- the stored document ---------------------------------------------------------------


def agreement_to_document(a: Agreement) -> dict[str, Any]:
    """A JSON-able document holding everything, geometry included (GeoJSON)."""
    return {
        "name": a.name,
        "parties": list(a.parties),
        "effective": a.effective.isoformat().replace("+00:00", "Z"),
        "line_of_contact": mapping(a.line),
        "zones": [
            {"id": z.id, "width_km": z.width_km, "prohibits": list(z.prohibits)} for z in a.zones
        ],
        "prohibited_everywhere": list(a.prohibited_everywhere),
        "control": [{"party": p, "geometry": mapping(g)} for p, g in a.control],
        "boundary": mapping(a.boundary) if a.boundary is not None else None,
        "sectors": [{"sector": s, "geometry": mapping(g)} for s, g in a.sectors],
        "report_cutoff": a.report_cutoff.strftime("%H:%M"),
        "timezone": a.timezone,
        "severity": list(a.severity),
        "version_label": a.version_label,
        "sha256": a.sha256,
        "source_path": a.source_path,
        "extra": a.extra,
    }


def agreement_from_document(doc: dict[str, Any], *, version: int | None = None) -> Agreement:
    hh, mm = (int(x) for x in doc["report_cutoff"].split(":"))
    return Agreement(
        name=doc["name"],
        parties=tuple(doc["parties"]),
        effective=datetime.fromisoformat(doc["effective"].replace("Z", "+00:00")),
        line=shape(doc["line_of_contact"]),
        zones=tuple(
            ZoneBand(z["id"], float(z["width_km"]), tuple(z["prohibits"])) for z in doc["zones"]
        ),
        prohibited_everywhere=tuple(doc["prohibited_everywhere"]),
        control=tuple((c["party"], shape(c["geometry"])) for c in doc["control"]),
        boundary=shape(doc["boundary"]) if doc.get("boundary") else None,
        sectors=tuple((s["sector"], shape(s["geometry"])) for s in doc["sectors"]),
        report_cutoff=time(hh, mm),
        timezone=doc["timezone"],
        severity=tuple(doc["severity"]),
        version_label=doc.get("version_label"),
        sha256=doc.get("sha256", ""),
        version=version,
        source_path=doc.get("source_path"),
        extra=doc.get("extra", {}),
    )
