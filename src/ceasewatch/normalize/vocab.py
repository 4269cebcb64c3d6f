"""Source vocabularies mapped explicitly onto ceasewatch's canonical categories.

Every mapping is a plain table so that it can be read, reviewed and cited. A source value
that no table knows is quarantined with its value, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

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

# --- UCDP GED --------------------------------------------------------------------------
#: UCDP GED ``where_prec`` → radius in metres within which the event lies. The codebook's
#: meaning of each code is in the comment; the radius is ours.
UCDP_GEO_PRECISION_M: Final[dict[int, float]] = {
    # 1: the exact location of the event is known and coded (a village, a part of a town)
    1: 1_000.0,
    # 2: the event happened within at most ca. 25 km of a known point, which is coded.
    # 10 km is a typical distance, not the bound: 25_000.0 would never miss a match but
    # would join more distinct events
    2: 10_000.0,
    # 3: only the second-order administrative division (ADM2, a raion) is known; centroid
    3: 30_000.0,
    # 4: only the first-order administrative division (ADM1, an oblast) is known; centroid
    4: 100_000.0,
    # 5: only a linear feature (road, river, front) or a region between provinces is known
    5: 200_000.0,
    # 6: only the country is known; the country's centroid is coded
    6: 600_000.0,
    # 7: international waters or airspace; a point on the route or in the sea is coded
    7: 100_000.0,
}
#: UCDP GED ``date_prec`` → canonical time precision; the span ``date_start`` - ``date_end``
#: gives the explicit window (codebook: 1 exact day; 2 within a 2-6 day range; 3 only the
#: week; 4 an 8-30 day range or only the month; 5 more than a month, at most a year)
UCDP_TIME_PRECISION: Final[dict[int, str]] = {1: "day", 2: "day", 3: "week", 4: "month", 5: "year"}
#: UCDP ``type_of_violence`` → canonical category before refinement by the headlines
UCDP_CATEGORY: Final[dict[int, str]] = {
    1: "armed_clash",  # state-based: a government and a rebel group or another state
    2: "armed_clash",  # non-state: two organized armed groups, neither a government
    3: "violence_against_civilians",  # one-sided: an armed group against civilians
}
#: UCDP ``event_clarity`` → Admiralty credibility (1 clear, 2 the reports leave doubt)
UCDP_CREDIBILITY: Final[dict[int, int]] = {1: 2, 2: 3}
#: refinement of armed_clash by the source headlines, first match wins: (regex, category).
#: GED codes fatal events of a dyad, not the weapon; its headlines often name it.
UCDP_REFINE: Final[tuple[tuple[str, str], ...]] = (
    (r"\b(?:drone|uav|shahed|geran|lancet|kamikaze)", "drone_strike"),
    (r"\b(?:missile|iskander|kalibr|kh-\d+|tochka|cruise|ballistic)", "missile_strike"),
    (r"\b(?:air ?strikes?|air raids?|airstrikes?|bombing|bombed|bombs?\b|aviation)", "air_strike"),
    (
        r"\b(?:shell(?:s|ed|ing)?\b|artillery|mortars?\b|grad\b|rockets?\b|mlrs|howitzer)",
        "shelling",
    ),
)

# --- CIR Eyes on Russia ----------------------------------------------------------------
#: CIR's layer (``event_group``) → base category, first match wins; a layer no row names
#: is ``other``. Military presence layers are sightings of forces and equipment moving.
EOR_GROUP_CATEGORY: Final[tuple[tuple[str, str], ...]] = (
    (r"^russian (?:military|allies) presence", "heavy_weapon_sighting"),
    (r"^russian firing positions", "shelling"),
    (r"^ground battle", "armed_clash"),
    (r"^bombing or explosion", "explosion_observed"),
    # remnants of rockets and missiles, mines: evidence of an impact
    (r"^munitions", "explosion_observed"),
    (r"^civilian casualt", "violence_against_civilians"),
    (r"^detentions? or arrests?", "strategic_development"),
    # damage, losses, graves say that something happened, not what: refined by the text
    (r"^(?:civilian|military) infrastructure damage", "other"),
    (r"^(?:russian|ukrainian) military losses", "other"),
    (r"^mass grave", "other"),
    (r"^other\b", "other"),
)
#: refinement by the words of title, brief description and arms/munition, first match
#: wins: (regex, category). Every pattern needs a word of action (strike, hit, firing,
#: shelled …), so a sighting of a launcher ("Iskander systems at a training ground") stays
#: a sighting. An observed explosion whose munition is identified is refined afterwards
#: by its weapon class (see SHELLING_WEAPONS / MISSILE_WEAPONS).
EOR_REFINE: Final[tuple[tuple[str, str], ...]] = (
    (
        r"\b(?:drones?|uavs?|ucavs?|tb2|bayraktar|shahed|geran|lancet|kamikaze|loitering)\b"
        r"[^.;]{0,40}?\b(?:strike|strikes|struck|attack|attacks|attacked|drops?|dropped|bomb)",
        "drone_strike",
    ),
    (
        r"\b(?:missiles?|cruise|ballistic|iskander|iskender|kalibr|kh-\d+|tochka|tocha|9m79|9m723)"
        r"\b[^.;]{0,40}?\b(?:strike|strikes|struck|attack|hit|hits|impact|landed|debris"
        r"|remnants?|fragments?|wreckage|crater|intercepted)"
        r"|\b(?:strike|struck|attack|hit|impact|wreckage|remnants?|debris)\w*\b[^.;]{0,20}?"
        r"\b(?:missiles?|cruise|ballistic|iskander|kalibr|tochka)",
        "missile_strike",
    ),
    (
        r"\b(?:air ?strikes?|airstrikes?|air raids?|aerial bomb|glide bomb|fab-\d+|bombing"
        r"|bombed|dropped bombs?|aviation strike)",
        "air_strike",
    ),
    (
        r"\bshell(?:s|ed|ing)?\b|\b(?:artillery|mortars?|mlrs|mrls|grads?|smerch|uragan|tos-1a?"
        r"|howitzers?|msta(?:-s)?|gvozdika|akatsiya|self-propelled guns?|spg)\b[^.;]{0,30}?"
        r"\b(?:fir(?:e|es|ed|ing)|strikes?|struck|attacks?|impacts?|hit|launch)",
        "shelling",
    ),
    (r"\b(?:firefights?|clash(?:es)?|street battles?|fighting|ambush(?:ed)?)\b", "armed_clash"),
)
#: location uncertainty of a CIR record: geolocated (a geolocation proof is linked) or
#: placed by the town named in the post
EOR_GEO_PRECISION_M: Final[dict[bool, float]] = {True: 500.0, False: 5_000.0}
#: Admiralty grade of a CIR record: verified and geolocated by CIR's open-source team, or
#: only collected and placed by its town
EOR_GRADES: Final[dict[bool, tuple[str, int]]] = {True: ("B", 2), False: ("C", 3)}


def category_from_keywords(
    text: pd.Series, rules: tuple[tuple[str, str], ...], base: pd.Series
) -> pd.Series:
    """Category of the first rule whose regex matches ``text`` (lower-cased); else ``base``."""
    lowered = text.fillna("").astype(str).str.lower()
    out = base.astype(object).copy()
    done = pd.Series(False, index=text.index)
    for pattern, category in rules:
        hit = ~done & lowered.str.contains(pattern, regex=True)
        out[hit] = category
        done |= hit
    return out


# --- claims by a party -----------------------------------------------------------------
#: radius of a claim's location when the claim gives none: a named settlement
CLAIM_GEO_PRECISION_M: Final = 5_000.0


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
    "ucdp": ("B", 2),
    # a party's statement about the other side: usually reliable as a channel, its content
    # doubtful until corroborated
    "claims": ("C", 4),
    # the table importer's default when a mapping names no grade
    "table": ("F", 6),
}


def admiralty_weight(
    reliability: npt.NDArray[np.object_], credibility: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Weight in (0, 1) of each record from its Admiralty grade (an unknown or missing
    grade: 0.3 for reliability, 0.5 for credibility)."""
    r = lookup(reliability, RELIABILITY_WEIGHT, 0.3)
    c = lookup(credibility, CREDIBILITY_WEIGHT, 0.5)
    return np.asarray(r * c, dtype=float)


def lookup(values: Any, table: Mapping[Any, Any], missing: Any) -> npt.NDArray[np.float64]:
    """``table[value]`` of each value as floats (``missing`` for a value not in the table,
    or none), looked up once per distinct value. Table values that are tuples give a row
    per value (``missing`` then is a tuple of the same length)."""
    if not isinstance(values, pd.Series | pd.Index):  # a Series is hashed as it is
        values = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(values)
    per = np.array([table.get(u, missing) for u in uniques] + [missing], dtype=float)
    return per[np.where(codes < 0, len(uniques), codes)]


def compile_patterns() -> None:
    """Fail fast at import if a pattern in the tables is invalid."""
    for _, pattern, _ in ACLED_REFINE:
        re.compile(pattern)
    for _, pattern in WEAPON_KEYWORDS:
        re.compile(pattern)
    for table in (UCDP_REFINE, EOR_GROUP_CATEGORY, EOR_REFINE):
        for pattern, _ in table:
            re.compile(pattern)


compile_patterns()
