"""The guarantee ledger's tables, their fields and controlled vocabularies.

Every module of :mod:`ceasewatch.guarantee` names ledger columns through these specs, never
through loose strings. A :class:`TableSpec` is the single description of a table: the
DuckDB DDL, the parser of imported records (CSV/YAML) and the export column order all
derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# --- vocabularies ----------------------------------------------------------------------
COMPONENTS: Final = ("presence", "air_defense", "armaments", "monitoring")

#: commitment statuses in lifecycle order; ``delivered`` (material) and ``deployed``
#: (people, systems with crews) are the two ways a commitment is fulfilled
STATUSES: Final = ("proposed", "pledged", "agreed", "delivered", "deployed", "withdrawn")
FULFILLED: Final = frozenset({"delivered", "deployed"})
#: statuses that count as a promise made (committed quantity/value)
COMMITTED: Final = frozenset({"pledged", "agreed", "delivered", "deployed"})
#: which fulfilled status each component reaches
FULFILMENT_BY_COMPONENT: Final[dict[str, frozenset[str]]] = {
    "presence": frozenset({"deployed"}),
    "monitoring": frozenset({"deployed"}),
    "armaments": frozenset({"delivered"}),
    "air_defense": frozenset({"delivered", "deployed"}),
}

GUARANTOR_KINDS: Final = ("country", "organisation")
SUPPORT_KINDS: Final = (
    "intelligence",
    "airlift",
    "air_defense",
    "logistics",
    "medical",
    "command",
    "training",
    "other",
)
CONTINGENT_ROLES: Final = ("deterrence", "training", "air_policing", "maritime", "logistics")
ZONE_KINDS: Final = ("site", "polygon")
MEETING_FORMATS: Final = ("bilateral", "trilateral", "multilateral")
MEETING_STATUSES: Final = ("proposed", "confirmed", "held", "cancelled")

FieldKind = Literal["text", "int", "float", "date", "list", "enum"]


@dataclass(frozen=True)
class FieldSpec:
    """One column: its kind, whether a record must give it, and the allowed values."""

    name: str
    kind: FieldKind = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "text": "TEXT",
            "int": "BIGINT",
            "float": "DOUBLE",
            "date": "DATE",
            "list": "TEXT",  # ';'-joined: plain in every export format
            "enum": "TEXT",
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """A ledger table: its name, key column and fields (in export order)."""

    name: str
    key: str
    fields: tuple[FieldSpec, ...]
    doc: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        msg = f"table {self.name!r} has no field {name!r}"
        raise KeyError(msg)


F = FieldSpec

GUARANTORS = TableSpec(
    "guarantors",
    "guarantor_id",
    (
        F("guarantor_id", required=True, doc="short code, e.g. UK, FR, EU"),
        F("name", required=True),
        F("kind", "enum", choices=GUARANTOR_KINDS, doc="country | organisation"),
        F("source"),
        F("notes"),
    ),
    doc="Countries or organisations that give guarantees.",
)

COMMITMENTS = TableSpec(
    "commitments",
    "commitment_id",
    (
        F("commitment_id", required=True),
        F("guarantor_id", required=True),
        F("component", "enum", required=True, choices=COMPONENTS),
        F("description", required=True),
        F("quantity", "float"),
        F("unit", doc="e.g. troops, systems, batteries, EUR"),
        F("value_eur", "float", doc="value in euros when known"),
        F("delivered_quantity", "float", doc="what has arrived so far (partial deliveries)"),
        F("due_date", "date", doc="when delivery/deployment is due (overdue after it)"),
        F("status", "enum", required=True, choices=STATUSES),
        F("proposed_on", "date"),
        F("pledged_on", "date"),
        F("agreed_on", "date"),
        F("delivered_on", "date"),
        F("deployed_on", "date"),
        F("withdrawn_on", "date"),
        F("source", doc="URL or document reference"),
        F("notes"),
    ),
    doc="What each guarantor committed, and where it stands in the lifecycle.",
)

SUPPORT = TableSpec(
    "guarantor_support",
    "support_id",
    (
        F("support_id", required=True),
        F("provider_id", required=True, doc="guarantor giving the support"),
        F("recipient_id", required=True, doc="guarantor receiving it"),
        F("kind", "enum", required=True, choices=SUPPORT_KINDS),
        F("contingent_id", doc="the supported contingent, if any"),
        F("commitment_id", doc="the commitment this support belongs to, if any"),
        F("start_date", "date"),
        F("end_date", "date"),
        F("source"),
        F("notes"),
    ),
    doc="One guarantor enabling another (intelligence, airlift, air defense, ...).",
)

CONTINGENTS = TableSpec(
    "contingents",
    "contingent_id",
    (
        F("contingent_id", required=True),
        F("guarantor_id", required=True, doc="the contributing nation"),
        F("role", "enum", required=True, choices=CONTINGENT_ROLES),
        F("strength", "int", doc="personnel"),
        F("base_name"),
        F("base_lon", "float", doc="WGS84 degrees"),
        F("base_lat", "float", doc="WGS84 degrees"),
        F("sectors", "list", doc="assigned sectors of the line (agreement sector names)"),
        F("start_date", "date"),
        F("end_date", "date"),
        F("commitment_id"),
        F("source"),
        F("notes"),
    ),
    doc="Contingents of the reassurance force.",
)

PROTECTED_ZONES = TableSpec(
    "protected_zones",
    "zone_id",
    (
        F("zone_id", required=True),
        F("name", required=True),
        F("kind", "enum", required=True, choices=ZONE_KINDS, doc="site (+radius) | polygon"),
        F("guarantor_id", doc="who provides the umbrella"),
        F("system", doc="e.g. Patriot, SAMP/T, IRIS-T SLM, NASAMS"),
        F("lon", "float", doc="site, WGS84 degrees"),
        F("lat", "float", doc="site, WGS84 degrees"),
        F("radius_km", "float", doc="nominal radius of a site"),
        F("geometry_wkt", doc="polygon in WGS84 lon/lat (WKT)"),
        F("start_date", "date"),
        F("end_date", "date"),
        F("commitment_id"),
        F("source"),
        F("notes"),
    ),
    doc="Declared air-defense umbrellas: a site with a nominal radius, or a polygon.",
)

MEETINGS = TableSpec(
    "meetings",
    "meeting_id",
    (
        F("meeting_id", required=True),
        F("date", "date", required=True),
        F("format", "enum", required=True, choices=MEETING_FORMATS),
        F("participants", "list", required=True),
        F("venue_candidates", "list"),
        F("venue"),
        F("status", "enum", required=True, choices=MEETING_STATUSES),
        F("outcome"),
        F("source"),
        F("notes"),
    ),
    doc="Meetings of the working group and the parties.",
)

LEDGER_TABLES: Final[dict[str, TableSpec]] = {
    t.name: t for t in (GUARANTORS, COMMITMENTS, SUPPORT, CONTINGENTS, PROTECTED_ZONES, MEETINGS)
}
#: the YAML ledger's section names (``support`` is accepted for ``guarantor_support``)
SECTION_ALIASES: Final = {"support": "guarantor_support"}

#: the date column each status sets
STATUS_DATE: Final = {s: f"{s}_on" for s in STATUSES}

# --- imported data sets ----------------------------------------------------------------
#: source names of the batches the importers create (``ceasewatch batches`` shows them)
SOURCE_KIEL: Final = "kiel"
SOURCE_AIR_ATTACKS: Final = "air_attacks"
SOURCE_AIR_ALERTS: Final = "air_alerts"
SOURCE_LOSSES_MOD: Final = "losses_mod"
SOURCE_LOSSES_ORYX: Final = "losses_oryx"
SOURCE_LEDGER: Final = "guarantee_ledger"

#: tables that hold imported data sets (one snapshot per batch; the latest batch is current)
DATASET_TABLES: Final = (
    "aid_kiel",
    "heavy_weapons_kiel",
    "air_attacks",
    "air_alerts",
    "losses_mod",
    "losses_oryx",
)

#: bias notes printed next to every figure drawn from a party's or a tracker's data
BIAS_NOTES: Final[dict[str, str]] = {
    SOURCE_AIR_ATTACKS: (
        "Launched/destroyed counts are the Ukrainian Air Force's own claims (one party), "
        "digitised by a volunteer who edits past rows in place; they cannot be independently "
        "verified. 'Destroyed' includes drones 'suppressed' by electronic warfare; "
        "Shahed-type rows include decoys (Gerbera etc.)."
    ),
    SOURCE_AIR_ALERTS: (
        "Official alert channel: an alert is a warning, not an attack. Permanent alerts in "
        "Luhansk oblast (since 2022-04-04) and Crimea (since 2022-12-10) are not in the data, "
        "so zero alert-hours there mean 'not recorded', not 'calm'."
    ),
    SOURCE_KIEL: (
        "Kiel Institute Ukraine Support Tracker: government announcements; in-kind items "
        "valued by Kiel's own market-price estimates; deliveries are reported less often "
        "than commitments, so delivered figures are a lower bound. Release 7 covers "
        "2022-01-24 to 2022-10-03 and gives no delivery dates."
    ),
    SOURCE_LOSSES_MOD: (
        "Ukrainian Ministry of Defence cumulative figures of Russian losses: a party's "
        "claims, not independently verified, and revised retroactively."
    ),
    SOURCE_LOSSES_ORYX: (
        "Oryx: only losses with photo or video evidence; an acknowledged undercount, "
        "snapshot of early 2023."
    ),
}
