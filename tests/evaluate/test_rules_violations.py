"""Rules: which incidents break which term of the agreement, graded by severity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_LINE, make_events, write_agreement
from pyproj import Transformer

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement, load_agreement
from ceasewatch.evaluate.corroborate import corroborate, summarise_incidents
from ceasewatch.evaluate.rules import violations_from_incidents
from ceasewatch.evaluate.zones import evaluate_zones
from ceasewatch.normalize import schema

EFFECTIVE = pd.Timestamp("2023-03-01T00:00:00Z")
AFTER = EFFECTIVE + pd.Timedelta(days=30)


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory) -> Agreement:
    return load_agreement(write_agreement(tmp_path_factory.mktemp("rules") / "a"))


def place(model: ZoneModel, km: float, *, side: int = 1, segment: int = 2) -> dict[str, float]:
    """lon/lat ``km`` from the middle of a segment of the test line, perpendicular to it
    (side +1: left of the line's direction, the RU side for segment 2)."""
    fwd = Transformer.from_crs("EPSG:4326", model.crs, always_xy=True)
    inv = Transformer.from_crs(model.crs, "EPSG:4326", always_xy=True)
    (x0, y0), (x1, y1) = (fwd.transform(*TEST_LINE[k]) for k in (segment, segment + 1))
    length = np.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    off = side * km * 1_000.0
    lon, lat = inv.transform((x0 + x1) / 2 + off * nx, (y0 + y1) / 2 + off * ny)
    return {schema.LON: float(lon), schema.LAT: float(lat)}


def event(
    eid: str, model: ZoneModel, km: float, side: int = 1, day: int = 0, **kw: Any
) -> dict[str, Any]:
    """An event ``km`` from the line, ``day`` days after the agreement is in force (events
    of different days never corroborate one another)."""
    row = {
        schema.EVENT_ID: eid,
        schema.SOURCE: "acled",
        schema.OCCURRED_AT: AFTER + pd.Timedelta(days=10 * day),
        schema.TIME_PRECISION: "minute",
        schema.GEO_PRECISION_M: 1_000.0,
        schema.CATEGORY: "shelling",
        schema.REPORT_GROUP: f"g:{eid}",
        **place(model, km, side=side),
    }
    row.update(kw)
    return row


def violations(agreement: Agreement, *rows: dict[str, Any], version: int = 1) -> pd.DataFrame:
    """Run corroboration, summary, zones and the rules over ``rows`` (the evaluate_store
    pipeline without the store)."""
    keys = sorted({k for r in rows for k in r})
    defaults = make_events(1).iloc[0].to_dict()
    ev = make_events(len(rows), **{k: [r.get(k, defaults[k]) for r in rows] for k in keys})
    model = ZoneModel(agreement)
    ids = corroborate(ev)
    inc = summarise_incidents(ev, ids)
    z = evaluate_zones(inc[schema.LON].to_numpy(), inc[schema.LAT].to_numpy(), model)
    inc = pd.concat([inc, z], axis=1).assign(**{schema.AGREEMENT_VERSION: version})
    members = ev[[schema.EVENT_ID, schema.CATEGORY, schema.WEAPON_CLASS]].assign(
        **{schema.INCIDENT_ID: ids.to_numpy()}
    )
    return violations_from_incidents(inc, members, agreement)


@pytest.fixture(scope="module")
def model(agreement: Agreement) -> ZoneModel:
    return ZoneModel(agreement)


def test_place_helper_lands_where_asked(model: ZoneModel) -> None:
    for km in (5.0, 40.0, 80.0, 100.0):
        p = place(model, km)
        z = evaluate_zones([p[schema.LON]], [p[schema.LAT]], model)
        assert z[schema.DISTANCE_TO_LINE_KM].iloc[0] == pytest.approx(km, abs=1e-6)
        assert z[schema.SIDE].iloc[0] == "RU"
    p = place(model, 10.0, side=-1)
    assert evaluate_zones([p[schema.LON]], [p[schema.LAT]], model)[schema.SIDE].iloc[0] == "UA"


# --- effective time ------------------------------------------------------------------------


def test_nothing_is_a_violation_before_the_effective_time(
    agreement: Agreement, model: ZoneModel
) -> None:
    rows = [
        event("s1", model, 100.0),
        event("m1", model, 40.0, category="heavy_weapon_sighting", weapon_class="mlrs"),
        event("k1", model, 5.0, category="small_arms_fire"),
    ]
    before = [{**r, schema.OCCURRED_AT: EFFECTIVE - pd.Timedelta(minutes=1)} for r in rows]
    assert violations(agreement, *before).empty
    at_start = [{**r, schema.OCCURRED_AT: EFFECTIVE} for r in rows]
    assert len(violations(agreement, *at_start)) == 3
    assert len(violations(agreement, *rows)) == 3


# --- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("km", [20.0, 100.0, 400.0])
def test_shelling_anywhere_is_prohibited_everywhere(
    agreement: Agreement, model: ZoneModel, km: float
) -> None:
    v = violations(agreement, event("s1", model, km, category="shelling"))
    assert list(v[schema.RULE]) == ["prohibited_everywhere"]
    assert v["rules"].iloc[0] == "prohibited_everywhere"


def test_mlrs_sighting_in_the_mlrs_band(agreement: Agreement, model: ZoneModel) -> None:
    sighting = {"category": "heavy_weapon_sighting", "weapon_class": "mlrs"}
    v = violations(agreement, event("m1", model, 40.0, **sighting))
    assert list(v[schema.RULE]) == ["zone:mlrs"]
    assert v[schema.ZONE].iloc[0] == "artillery"  # the narrowest band the place lies in
    assert violations(agreement, event("m2", model, 80.0, **sighting)).empty
    # within 15 km it breaks the disengagement band as well; the weapon rule leads
    v = violations(agreement, event("m3", model, 10.0, **sighting))
    assert v[schema.RULE].iloc[0] == "zone:mlrs"
    assert set(v["rules"].iloc[0].split(";")) == {"zone:mlrs", "zone:disengagement"}


@pytest.mark.parametrize(
    "category", ["small_arms_fire", "muzzle_flash", "heavy_weapon_sighting", "territory_change"]
)
def test_any_military_activity_within_15_km(
    agreement: Agreement, model: ZoneModel, category: str
) -> None:
    v = violations(agreement, event("k1", model, 12.0, category=category))
    assert list(v[schema.RULE]) == ["zone:disengagement"]
    assert violations(agreement, event("k2", model, 16.0, category=category)).empty


@pytest.mark.parametrize("category", ["protest", "violence_against_civilians", "fire_detection"])
def test_non_military_within_15_km_is_no_violation(
    agreement: Agreement, model: ZoneModel, category: str
) -> None:
    assert violations(agreement, event("p1", model, 3.0, category=category)).empty


def test_responsibility_is_undetermined_unless_attributed(
    agreement: Agreement, model: ZoneModel
) -> None:
    v = violations(
        agreement,
        event("s1", model, 30.0, side=1),
        event("s2", model, 30.0, side=-1, attributed_to="RU"),
    ).set_index(schema.INCIDENT_ID)
    assert v.loc["Is1", schema.SIDE] == "RU"
    assert v.loc["Is1", schema.RESPONSIBILITY] == "undetermined"  # location is not blame
    assert v.loc["Is2", schema.SIDE] == "UA"
    assert v.loc["Is2", schema.RESPONSIBILITY] == "RU"


# --- severity ------------------------------------------------------------------------------


def test_default_severity_ladder(agreement: Agreement, model: ZoneModel) -> None:
    v = violations(
        agreement,
        event("ms", model, 100.0, day=0, category="missile_strike"),
        event("sh", model, 100.0, day=1, category="shelling"),
        event("dk", model, 100.0, day=2, category="shelling", fatalities=2.0),
        event("mz", model, 40.0, day=3, category="heavy_weapon_sighting", weapon_class="mlrs"),
    ).set_index(schema.INCIDENT_ID)
    assert v.loc["Ims", schema.SEVERITY] == "breach"
    assert v.loc["Ish", schema.SEVERITY] == "warning"
    assert v.loc["Idk", schema.SEVERITY] == "breach"  # min_fatalities: 1
    assert v.loc["Imz", schema.SEVERITY] == "breach"  # heavy weapons in a withdrawal zone


def test_default_ladder_falls_back_to_notice(tmp_path: Path) -> None:
    # a category no rung of the default ladder names, prohibited everywhere, far out
    a = load_agreement(
        write_agreement(
            tmp_path / "n",
            extra="prohibited_everywhere: [shelling, small_arms_fire]\n",
        )
    )
    v = violations(a, event("k1", ZoneModel(a), 100.0, category="small_arms_fire"))
    assert list(v[schema.RULE]) == ["prohibited_everywhere"]
    assert list(v[schema.SEVERITY]) == ["notice"]


def test_small_arms_fire_in_disengagement_is_a_notice(
    agreement: Agreement, model: ZoneModel
) -> None:
    v = violations(agreement, event("k1", model, 5.0, category="small_arms_fire"))
    assert list(v[schema.RULE]) == ["zone:disengagement"]
    assert list(v[schema.SEVERITY]) == ["notice"]


def test_weapon_inside_its_withdrawal_zone_is_a_breach(
    agreement: Agreement, model: ZoneModel
) -> None:
    v = violations(
        agreement,
        event("w1", model, 40.0, category="heavy_weapon_sighting", weapon_class="mlrs"),
    )
    assert list(v[schema.RULE]) == ["zone:mlrs"]
    assert list(v[schema.SEVERITY]) == ["breach"]


def test_custom_severity_ladder_is_honoured(tmp_path: Path) -> None:
    ladder = (
        "severity:\n"
        "  - {level: warning, categories: [small_arms_fire], zones: [disengagement]}\n"
        "  - {level: expanded_attack, categories: [missile_strike], beyond_km: 90}\n"
        "  - {level: breach, weapon_classes: [mlrs]}\n"
    )
    a = load_agreement(write_agreement(tmp_path / "c", extra=ladder))
    m = ZoneModel(a)
    v = violations(
        a,
        event("k1", m, 5.0, day=0, category="small_arms_fire"),
        event("ms", m, 100.0, day=1, category="missile_strike"),
        event("mc", m, 60.0, day=2, category="missile_strike"),
        event("sh", m, 100.0, day=3, category="shelling"),
        event("mz", m, 40.0, day=4, category="heavy_weapon_sighting", weapon_class="mlrs"),
    ).set_index(schema.INCIDENT_ID)
    assert v.loc["Ik1", schema.SEVERITY] == "warning"
    assert v.loc["Ims", schema.SEVERITY] == "expanded_attack"
    assert v.loc["Imc", schema.SEVERITY] == "notice"  # not beyond 90 km
    assert v.loc["Ish", schema.SEVERITY] == "notice"  # the default ladder no longer applies
    assert v.loc["Imz", schema.SEVERITY] == "breach"


# --- ids and evidence ----------------------------------------------------------------------


def test_violation_ids_are_deterministic(agreement: Agreement, model: ZoneModel) -> None:
    rows = [
        event("s1", model, 100.0),
        event("m1", model, 40.0, category="heavy_weapon_sighting", weapon_class="mlrs"),
    ]
    first = violations(agreement, *rows)
    again = violations(agreement, *reversed(rows))
    assert sorted(first[schema.VIOLATION_ID]) == sorted(again[schema.VIOLATION_ID])
    assert first[schema.VIOLATION_ID].str.fullmatch(r"V[0-9a-f]{16}").all()
    assert first[schema.VIOLATION_ID].is_unique
    # the same incident judged under another agreement version is another violation
    other = violations(agreement, *rows, version=2)
    assert set(other[schema.VIOLATION_ID]).isdisjoint(first[schema.VIOLATION_ID])
    assert (other[schema.AGREEMENT_VERSION] == 2).all()


def test_evidence_lists_every_member_event(agreement: Agreement, model: ZoneModel) -> None:
    p = place(model, 30.0)
    shell = event("a1", model, 30.0, geo_precision_m=2_000.0, source="acled")
    fire = event("f1", model, 30.0, category="fire_detection", source="firms", **p)
    boom = event("x1", model, 30.0, category="explosion_observed", source="field_report")
    v = violations(agreement, shell, fire, boom)
    assert len(v) == 1
    row = v.iloc[0]
    assert row[schema.EVIDENCE_EVENT_IDS] == "a1;f1;x1"
    assert row["matched_event_ids"] == "a1"  # only the shelling record breaks a term
    assert row["n_sources"] == 3
    assert row[schema.RULE] == "prohibited_everywhere"
