"""Source vocabularies mapped explicitly onto ceasewatch's canonical categories.

Every mapping is a plain table so that it can be read, reviewed and cited. A source value
that no table knows is quarantined with its value, never guessed.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

# --- ACLED -----------------------------------------------------------------------------
#: ACLED (event_type, sub_event_type) → canonical category. ACLED's codebook (2023):
#: 6 event types, 25 sub-event types. "Air/drone strike" and "Shelling/artillery/missile
#: attack" are refined by the notes (see ACLED_REFINE) because ACLED groups them.
ACLED_CATEGORY: Final[dict[tuple[str, str], str]] = {
    ("Battles", "Armed clash"): "armed_clash",
    ("Battles", "Government regains territory"): "territory_change",
    ("Battles", "Non-state actor overtakes territory"): "territory_change",
    ("Explosions/Remote violence", "Shelling/artillery/missile attack"): "shelling",
    ("Explosions/Remote violence", "Air/drone strike"): "air_strike",
    ("Explosions/Remote violence", "Remote explosive/landmine/IED"): "remote_explosive",
    ("Explosions/Remote violence", "Grenade"): "remote_explosive",
    ("Explosions/Remote violence", "Suicide bomb"): "remote_explosive",
    ("Explosions/Remote violence", "Chemical weapon"): "shelling",
    ("Violence against civilians", "Attack"): "violence_against_civilians",
    ("Violence against civilians", "Sexual violence"): "violence_against_civilians",
    ("Violence against civilians", "Abduction/forced disappearance"): "violence_against_civilians",
    ("Protests", "Peaceful protest"): "protest",
    ("Protests", "Protest with intervention"): "protest",
    ("Protests", "Excessive force against protesters"): "protest",
    ("Riots", "Violent demonstration"): "riot",
    ("Riots", "Mob violence"): "riot",
    ("Strategic developments", "Agreement"): "strategic_development",
    ("Strategic developments", "Arrests"): "strategic_development",
    ("Strategic developments", "Change to group/activity"): "strategic_development",
    ("Strategic developments", "Disrupted weapons use"): "strategic_development",
    ("Strategic developments", "Headquarters or base established"): "strategic_development",
    ("Strategic developments", "Looting/property destruction"): "strategic_development",
    ("Strategic developments", "Non-violent transfer of territory"): "territory_change",
    ("Strategic developments", "Other"): "strategic_development",
}

#: refinement of ACLED's grouped sub-event types by words in the notes, first match wins:
#: (base category, regex on notes, refined category)
ACLED_REFINE: Final[tuple[tuple[str, str, str], ...]] = (
    ("air_strike", r"\b(?:drone|uav|shahed|geran|lancet|loitering|fpv|quadcopter)", "drone_strike"),
    ("air_strike", r"\bmissile", "missile_strike"),
    ("shelling", r"\b(?:ballistic|cruise|iskander|kalibr|kh-\d+|s-300|tochka)", "missile_strike"),
    (
        "shelling",
        r"\bmissile(?!.*\b(?:artillery|shell|mortar|mlrs|grad|rocket launcher))",
        "missile_strike",
    ),
)

#: ACLED geo_precision → radius in metres within which the event lies
#: (1: the town itself; 2: near a town / part of a region; 3: only the region is known)
ACLED_GEO_PRECISION_M: Final[dict[int, float]] = {1: 2_000.0, 2: 15_000.0, 3: 75_000.0}
#: ACLED time_precision → canonical time precision
ACLED_TIME_PRECISION: Final[dict[int, str]] = {1: "day", 2: "week", 3: "month"}

# --- weapon classes from free text -----------------------------------------------------
#: words in a description → weapon class, heaviest first (first match wins)
WEAPON_KEYWORDS: Final[tuple[tuple[str, str], ...]] = (
    ("tactical_missiles", r"\b(?:tochka|iskander|9k79|9k720|otr-21)"),
    ("heavy_mlrs", r"\b(?:tornado-s|uragan|smerch|bm-27|bm-30|9k57|9k58|himars|m142|m270)"),
    ("mlrs", r"\b(?:mlrs|grad|bm-21|multiple rocket|multiple-rocket|rocket launcher)"),
    ("artillery_100mm_plus", r"\b(?:howitzer|122\s?-?mm|152\s?-?mm|155\s?-?mm|203\s?-?mm|msta)"),
    ("artillery_100mm_plus", r"\bartillery"),
    ("tank", r"\btanks?\b"),
    ("mortar", r"\bmortars?\b"),
    ("drone", r"\b(?:drone|uav|shahed|geran|lancet|fpv)"),
    ("aircraft", r"\b(?:aircraft|aviation|glide bomb|kab\b|fab-\d+|jet|helicopter|su-\d+)"),
    ("grenade_launcher", r"\bgrenade launcher"),
    ("heavy_machine_gun", r"\b(?:heavy machine gun|hmg)\b"),
    ("small_arms", r"\b(?:small arms|small-arms|machine gun|rifle)"),
)


def weapon_class_from_text(text: pd.Series) -> pd.Series:
    """Weapon class named in free text, heaviest first; null where none is named."""
    lowered = text.fillna("").astype(str).str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="object")
    for cls, pattern in WEAPON_KEYWORDS:
        hit = out.isna() & lowered.str.contains(pattern, regex=True)
        out[hit] = cls
    return out


def refine_acled_category(category: pd.Series, notes: pd.Series) -> pd.Series:
    """Apply :data:`ACLED_REFINE` to ACLED's grouped sub-event types."""
    lowered = notes.fillna("").astype(str).str.lower()
    out = category.copy()
    done = pd.Series(False, index=category.index)
    for base, pattern, refined in ACLED_REFINE:
        hit = ~done & (category == base) & lowered.str.contains(pattern, regex=True)
        out[hit] = refined
        done |= hit
    return out


# --- field reports ---------------------------------------------------------------------
FIELD_REPORT_KINDS: Final[dict[str, str]] = {
    "explosion": "explosion_observed",
    "projectile": "projectile_observed",
    "burst": "small_arms_fire",
    "flash": "muzzle_flash",
    "flare": "illumination_flare",
    "heavy_weapon_sighting": "heavy_weapon_sighting",
}
#: weapon classes that turn an observed explosion into shelling
SHELLING_WEAPONS: Final = frozenset(
    {"mortar", "tank", "artillery_under_100mm", "artillery_100mm_plus", "mlrs", "heavy_mlrs"}
)
#: weapon classes that turn an observed explosion into a missile strike
MISSILE_WEAPONS: Final = frozenset({"tactical_missiles"})
ASSESSMENTS: Final = ("undetermined", "outgoing", "impact")

# --- FIRMS -----------------------------------------------------------------------------
#: FIRMS instrument → nominal pixel half-size in metres (location uncertainty)
FIRMS_GEO_PRECISION_M: Final[dict[str, float]] = {"VIIRS": 375.0, "MODIS": 1_000.0}
#: VIIRS letter confidence → numeric; MODIS gives 0-100 directly
FIRMS_CONFIDENCE: Final[dict[str, float]] = {"l": 30.0, "n": 60.0, "h": 90.0}

# --- Admiralty grading -----------------------------------------------------------------
#: probability that a report from a source of this reliability is right (A-F; F = cannot
#: be judged, treated as between D and E)
RELIABILITY_WEIGHT: Final[dict[str, float]] = {
    "A": 0.95,
    "B": 0.8,
    "C": 0.6,
    "D": 0.4,
    "E": 0.2,
    "F": 0.3,
}
#: weight of the information's credibility (1 confirmed … 5 improbable; 6 cannot be judged)
CREDIBILITY_WEIGHT: Final[dict[int, float]] = {1: 1.0, 2: 0.85, 3: 0.65, 4: 0.45, 5: 0.2, 6: 0.5}

#: default grades per source (a source's own record may carry its own grade)
DEFAULT_GRADES: Final[dict[str, tuple[str, int]]] = {
    "acled": ("B", 2),
    "firms": ("B", 3),
    "field_report": ("A", 2),
}


def admiralty_weight(
    reliability: npt.NDArray[np.object_], credibility: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Weight in (0, 1) of each record from its Admiralty grade."""
    r = pd.Series(reliability).map(RELIABILITY_WEIGHT).fillna(0.3).to_numpy(dtype=float)
    c = pd.Series(credibility).map(CREDIBILITY_WEIGHT).fillna(0.5).to_numpy(dtype=float)
    return np.asarray(r * c, dtype=float)


def compile_patterns() -> None:
    """Fail fast at import if a pattern in the tables is invalid."""
    for _, pattern, _ in ACLED_REFINE:
        re.compile(pattern)
    for _, pattern in WEAPON_KEYWORDS:
        re.compile(pattern)


compile_patterns()
