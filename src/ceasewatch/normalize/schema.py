"""The canonical schema: column names, controlled vocabularies, arrow types.

Every module refers to columns through these constants, never through loose strings.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

# --- event columns ---------------------------------------------------------------------
EVENT_ID: Final = "event_id"
SOURCE: Final = "source"
SOURCE_EVENT_ID: Final = "source_event_id"
VERSION: Final = "version"
OCCURRED_AT: Final = "occurred_at"
TIME_PRECISION: Final = "time_precision"
TIME_WINDOW_S: Final = "time_window_s"
LON: Final = "lon"
LAT: Final = "lat"
GEO_PRECISION_M: Final = "geo_precision_m"
CATEGORY: Final = "category"
WEAPON_CLASS: Final = "weapon_class"
ACTOR: Final = "actor"
ATTRIBUTED_TO: Final = "attributed_to"
FATALITIES: Final = "fatalities"
COUNT: Final = "count"
RELIABILITY: Final = "reliability"
CREDIBILITY: Final = "credibility"
REPORT_GROUP: Final = "report_group"
LOCATION_NAME: Final = "location_name"
ADMIN1: Final = "admin1"
NOTES: Final = "notes"
RAW: Final = "raw"
LINE_NO: Final = "line_no"
BATCH_ID: Final = "batch_id"
RECORDED_AT: Final = "recorded_at"
CONTENT_SHA: Final = "content_sha"

# --- evaluation columns ----------------------------------------------------------------
INCIDENT_ID: Final = "incident_id"
DISTANCE_TO_LINE_KM: Final = "distance_to_line_km"
SIDE: Final = "side"
ZONE: Final = "zone"
SECTOR: Final = "sector"
AGREEMENT_VERSION: Final = "agreement_version"
#: fire-anomaly model (evaluate/fire_anomaly.py): probability that a detection is the war's
WAR_PROBABILITY: Final = "war_probability"
WAR_RELATED: Final = "war_related"

# --- violation columns -----------------------------------------------------------------
VIOLATION_ID: Final = "violation_id"
RULE: Final = "rule"
SEVERITY: Final = "severity"
CONFIDENCE: Final = "confidence"
RESPONSIBILITY: Final = "responsibility"
EVIDENCE_EVENT_IDS: Final = "evidence_event_ids"
STATUS: Final = "status"
DETECTED_AT: Final = "detected_at"

# side values besides party codes
SIDE_UNKNOWN: Final = "unknown"
SIDE_OUTSIDE: Final = "outside"
ZONE_OUTSIDE: Final = "outside"
RESPONSIBILITY_UNDETERMINED: Final = "undetermined"

# --- controlled vocabularies -----------------------------------------------------------
#: canonical event categories; each source maps its own vocabulary onto these explicitly
CATEGORIES: Final = (
    "shelling",
    "air_strike",
    "missile_strike",
    "drone_strike",
    "armed_clash",
    "remote_explosive",
    "explosion_observed",
    "projectile_observed",
    "small_arms_fire",
    "muzzle_flash",
    "illumination_flare",
    "heavy_weapon_sighting",
    "fire_detection",
    "territory_change",
    "violence_against_civilians",
    "protest",
    "riot",
    "strategic_development",
    "other",
)

#: categories that are military activity (what ``any_military_activity`` covers)
MILITARY_CATEGORIES: Final = frozenset(
    {
        "shelling",
        "air_strike",
        "missile_strike",
        "drone_strike",
        "armed_clash",
        "remote_explosive",
        "explosion_observed",
        "projectile_observed",
        "small_arms_fire",
        "muzzle_flash",
        "illumination_flare",
        "heavy_weapon_sighting",
        "territory_change",
    }
)

#: a pseudo-category an agreement zone may prohibit: all of MILITARY_CATEGORIES
ANY_MILITARY_ACTIVITY: Final = "any_military_activity"

#: weapon classes as the Minsk withdrawal terms group them
WEAPON_CLASSES: Final = (
    "small_arms",
    "heavy_machine_gun",
    "grenade_launcher",
    "mortar",
    "tank",
    "artillery_under_100mm",
    "artillery_100mm_plus",
    "mlrs",
    "heavy_mlrs",
    "tactical_missiles",
    "aircraft",
    "drone",
    "unknown",
)

#: how specific a category is when an incident has members of several (higher wins)
CATEGORY_PRIORITY: Final = {c: len(CATEGORIES) - i for i, c in enumerate(CATEGORIES)}

#: time precision codes (ordered): how exactly ``occurred_at`` is known
TIME_PRECISIONS: Final = ("second", "minute", "hour", "day", "week", "month", "year")

#: Admiralty grading: reliability of the source (A-F), credibility of the information (1-6)
RELIABILITY_GRADES: Final = ("A", "B", "C", "D", "E", "F")
CREDIBILITY_GRADES: Final = (1, 2, 3, 4, 5, 6)

SEVERITIES: Final = ("notice", "warning", "breach", "expanded_attack")
VIOLATION_STATUSES: Final = ("detected", "under_review", "confirmed", "dismissed")

#: the normalized event table every importer produces (before the store adds ids/batch)
EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field(SOURCE, pa.string(), nullable=False),
        pa.field(SOURCE_EVENT_ID, pa.string(), nullable=False),
        pa.field(OCCURRED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(TIME_PRECISION, pa.string(), nullable=False),
        pa.field(TIME_WINDOW_S, pa.float64(), nullable=False),
        pa.field(LON, pa.float64(), nullable=False),
        pa.field(LAT, pa.float64(), nullable=False),
        pa.field(GEO_PRECISION_M, pa.float64(), nullable=False),
        pa.field(CATEGORY, pa.string(), nullable=False),
        pa.field(WEAPON_CLASS, pa.string()),
        pa.field(ACTOR, pa.string()),
        pa.field(ATTRIBUTED_TO, pa.string()),
        pa.field(FATALITIES, pa.float64()),
        pa.field(COUNT, pa.int64(), nullable=False),
        pa.field(RELIABILITY, pa.string(), nullable=False),
        pa.field(CREDIBILITY, pa.int8(), nullable=False),
        pa.field(REPORT_GROUP, pa.string(), nullable=False),
        pa.field(LOCATION_NAME, pa.string()),
        pa.field(ADMIN1, pa.string()),
        pa.field(NOTES, pa.string()),
        pa.field(RAW, pa.string(), nullable=False),
        pa.field(LINE_NO, pa.int64(), nullable=False),
    ]
)

EVENT_COLUMNS: Final = tuple(EVENT_SCHEMA.names)

#: quarantine rows: what could not be loaded, where and why
QUARANTINE_SCHEMA: Final = pa.schema(
    [
        pa.field(LINE_NO, pa.int64()),
        pa.field("reason", pa.string()),
        pa.field(RAW, pa.string()),
    ]
)
