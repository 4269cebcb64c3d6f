"""A generated, plausible guarantee ledger for ``make demo``, plus air-attack and air-alert
files in the real data sets' layouts (so the demo runs the same importers as real files).

Everything here is invented: guarantors' names are real countries, but none of the
commitments, contingents, zones or meetings describe real decisions.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from ceasewatch.guarantee.ledger import import_ledger
from ceasewatch.ingest.pipeline import BatchResult

if TYPE_CHECKING:
    from ceasewatch.store.open import AnyStore

#: the demo scenario's sector names (as in the demo agreement's sectors.geojson)
DEMO_SECTORS = (
    "Kharkiv-Luhansk",
    "Donetsk-North",
    "Donetsk-South",
    "Zaporizhzhia",
    "Kakhovka",
    "Kherson-Dnipro",
)

#: (zone id, city, lon, lat, radius km, system, guarantor)
_ZONES = (
    ("AD-KYIV", "Kyiv", 30.5234, 50.4501, 40.0, "Patriot", "US"),
    ("AD-KHARKIV", "Kharkiv", 36.2304, 49.9935, 30.0, "IRIS-T SLM", "DE"),
    ("AD-ODESA", "Odesa", 30.7233, 46.4825, 35.0, "SAMP/T", "FR"),
    ("AD-DNIPRO", "Dnipro", 35.0462, 48.4647, 30.0, "NASAMS", "NO"),
    ("AD-ZAPORIZHZHIA", "Zaporizhzhia", 35.1396, 47.8388, 25.0, "IRIS-T SLM", "DE"),
)

_GUARANTORS = (
    ("UK", "United Kingdom", "country"),
    ("FR", "France", "country"),
    ("DE", "Germany", "country"),
    ("PL", "Poland", "country"),
    ("NL", "Netherlands", "country"),
    ("NO", "Norway", "country"),
    ("TR", "Türkiye", "country"),
    ("CA", "Canada", "country"),
    ("US", "United States", "country"),
    ("EU", "European Union", "organisation"),
)


def _d(start: date, days: float) -> str:
    return (start + timedelta(days=round(days))).isoformat()


def demo_ledger_data(
    seed: int = 7, *, start: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The demo ledger as YAML-ready sections (dates relative to ``start``)."""
    rng = np.random.default_rng(seed)
    t0 = start or date(2025, 9, 1)

    def j(n: int) -> int:
        return int(rng.integers(-n, n + 1))

    guarantors = [
        {"guarantor_id": g, "name": n, "kind": k, "source": "demo (generated)"}
        for g, n, k in _GUARANTORS
    ]
    c: list[dict[str, Any]] = []

    def add(cid: str, g: str, comp: str, desc: str, status: str, **kw: Any) -> None:
        steps = ["proposed", "pledged", "agreed", "delivered", "deployed", "withdrawn"]
        rec: dict[str, Any] = {
            "commitment_id": cid,
            "guarantor_id": g,
            "component": comp,
            "description": desc,
            "status": status,
            "source": "demo (generated)",
        }
        day = -40 + j(5)
        fulfil = "deployed" if comp in ("presence", "monitoring") else "delivered"
        if status in ("delivered", "deployed"):
            fulfil = status
        path = ["proposed", "pledged", "agreed", fulfil]
        if status == "withdrawn":
            path = ["proposed", "pledged", "withdrawn"]
        for s in path:
            rec[f"{s}_on"] = _d(t0, day)
            day += 10 + abs(j(8))
            if s == status:
                break
        assert status in steps
        rec.update(kw)
        c.append(rec)

    add(
        "UK-P1",
        "UK",
        "presence",
        "Armoured deterrence battlegroup",
        "deployed",
        quantity=2400 + 50 * j(4),
        unit="troops",
        value_eur=9.0e8,
        due_date=_d(t0, 10),
    )
    add(
        "FR-P1",
        "FR",
        "presence",
        "Mechanised brigade headquarters and two battalions",
        "deployed",
        quantity=2000,
        unit="troops",
        value_eur=8.0e8,
        due_date=_d(t0, 15),
    )
    add(
        "PL-P1",
        "PL",
        "presence",
        "Training mission west of the Dnipro",
        "agreed",
        quantity=800,
        unit="troops",
        value_eur=1.5e8,
        due_date=_d(t0, 20),
    )
    add(
        "NL-P1",
        "NL",
        "presence",
        "Logistics hub and medical company",
        "deployed",
        quantity=450,
        unit="troops",
        value_eur=9.0e7,
        due_date=_d(t0, 5),
    )
    add(
        "TR-P1",
        "TR",
        "presence",
        "Black Sea mine-countermeasures group",
        "pledged",
        quantity=3,
        unit="vessels",
        value_eur=1.2e8,
        due_date=_d(t0, 25),
    )
    add(
        "CA-P1",
        "CA",
        "presence",
        "Engineer company for the Kakhovka sector",
        "proposed",
        quantity=250,
        unit="troops",
        value_eur=4.0e7,
    )
    add(
        "US-AD1",
        "US",
        "air_defense",
        "Patriot battery for Kyiv",
        "delivered",
        quantity=1,
        unit="batteries",
        value_eur=1.1e9,
        due_date=_d(t0, 0),
    )
    add(
        "DE-AD1",
        "DE",
        "air_defense",
        "IRIS-T SLM fire units",
        "delivered",
        quantity=4,
        unit="fire units",
        value_eur=6.0e8,
        delivered_quantity=3,
        due_date=_d(t0, 5),
    )
    add(
        "DE-AD2",
        "DE",
        "air_defense",
        "IRIS-T SLM missiles",
        "agreed",
        quantity=400,
        unit="missiles",
        value_eur=2.0e8,
        due_date=_d(t0, 10),
    )
    add(
        "FR-AD1",
        "FR",
        "air_defense",
        "SAMP/T battery for Odesa, French crews",
        "deployed",
        quantity=1,
        unit="batteries",
        value_eur=7.0e8,
        due_date=_d(t0, 12),
    )
    add(
        "NO-AD1",
        "NO",
        "air_defense",
        "NASAMS fire units",
        "agreed",
        quantity=2,
        unit="fire units",
        value_eur=3.0e8,
        due_date=_d(t0, 3),
    )
    add(
        "NL-AD1",
        "NL",
        "air_defense",
        "Counter-drone gun systems",
        "pledged",
        quantity=60,
        unit="systems",
        value_eur=1.5e8,
        due_date=_d(t0, 40),
    )
    add(
        "UK-A1",
        "UK",
        "armaments",
        "155 mm artillery rounds",
        "delivered",
        quantity=120000,
        unit="rounds",
        value_eur=4.8e8,
        delivered_quantity=95000,
        due_date=_d(t0, 0),
    )
    add(
        "PL-A1",
        "PL",
        "armaments",
        "Krab self-propelled howitzers",
        "agreed",
        quantity=18,
        unit="howitzers",
        value_eur=3.6e8,
        due_date=_d(t0, 8),
    )
    add(
        "DE-A1",
        "DE",
        "armaments",
        "Leopard 1A5 tanks",
        "pledged",
        quantity=50,
        unit="tanks",
        value_eur=2.5e8,
        due_date=_d(t0, 20),
    )
    add(
        "CA-A1",
        "CA",
        "armaments",
        "Armoured combat support vehicles",
        "delivered",
        quantity=39,
        unit="vehicles",
        value_eur=1.6e8,
        due_date=_d(t0, -10),
    )
    add(
        "EU-A1",
        "EU",
        "armaments",
        "Ammunition initiative, second tranche",
        "agreed",
        quantity=1.0e9,
        unit="EUR",
        value_eur=1.0e9,
        due_date=_d(t0, 15),
    )
    add(
        "TR-A1",
        "TR",
        "armaments",
        "Armed drones",
        "withdrawn",
        quantity=12,
        unit="drones",
        value_eur=1.0e8,
    )
    add(
        "EU-M1",
        "EU",
        "monitoring",
        "Civilian monitoring mission (observers)",
        "deployed",
        quantity=200,
        unit="monitors",
        value_eur=6.0e7,
        due_date=_d(t0, 0),
    )
    add(
        "NO-M1",
        "NO",
        "monitoring",
        "Satellite imagery tasking for the line",
        "agreed",
        quantity=1,
        unit="service",
        value_eur=2.0e7,
        due_date=_d(t0, 7),
    )
    add(
        "UK-M1",
        "UK",
        "monitoring",
        "Acoustic sensor network, Donetsk sectors",
        "pledged",
        quantity=40,
        unit="sensor sites",
        value_eur=3.0e7,
        due_date=_d(t0, 12),
    )

    contingents = [
        {
            "contingent_id": "UK-BG1",
            "guarantor_id": "UK",
            "role": "deterrence",
            "strength": 2400,
            "base_name": "Dnipro",
            "base_lon": 35.0462,
            "base_lat": 48.4647,
            "sectors": ["Donetsk-North", "Donetsk-South"],
            "start_date": _d(t0, -5),
            "commitment_id": "UK-P1",
        },
        {
            "contingent_id": "FR-BDE1",
            "guarantor_id": "FR",
            "role": "deterrence",
            "strength": 2000,
            "base_name": "Zaporizhzhia",
            "base_lon": 35.1396,
            "base_lat": 47.8388,
            "sectors": ["Zaporizhzhia", "Kakhovka"],
            "start_date": _d(t0, 2),
            "commitment_id": "FR-P1",
        },
        {
            "contingent_id": "PL-TRG1",
            "guarantor_id": "PL",
            "role": "training",
            "strength": 800,
            "base_name": "Kharkiv",
            "base_lon": 36.2304,
            "base_lat": 49.9935,
            "sectors": ["Kharkiv-Luhansk"],
            "start_date": _d(t0, 14),
            "commitment_id": "PL-P1",
        },
        {
            "contingent_id": "NL-LOG1",
            "guarantor_id": "NL",
            "role": "logistics",
            "strength": 450,
            "base_name": "Kyiv",
            "base_lon": 30.5234,
            "base_lat": 50.4501,
            "start_date": _d(t0, -10),
            "commitment_id": "NL-P1",
        },
        {
            "contingent_id": "TR-MAR1",
            "guarantor_id": "TR",
            "role": "maritime",
            "strength": 300,
            "base_name": "Odesa",
            "base_lon": 30.7233,
            "base_lat": 46.4825,
            "start_date": _d(t0, 30),
            "commitment_id": "TR-P1",
        },
        {
            "contingent_id": "NO-AP1",
            "guarantor_id": "NO",
            "role": "air_policing",
            "strength": 150,
            "base_name": "Lviv",
            "base_lon": 24.0297,
            "base_lat": 49.8397,
            "start_date": _d(t0, -20),
        },
    ]
    support = [
        {
            "support_id": "S1",
            "provider_id": "US",
            "recipient_id": "UK",
            "kind": "intelligence",
            "contingent_id": "UK-BG1",
            "start_date": _d(t0, -5),
        },
        {
            "support_id": "S2",
            "provider_id": "US",
            "recipient_id": "FR",
            "kind": "airlift",
            "contingent_id": "FR-BDE1",
            "start_date": _d(t0, 0),
        },
        {
            "support_id": "S3",
            "provider_id": "DE",
            "recipient_id": "PL",
            "kind": "air_defense",
            "contingent_id": "PL-TRG1",
            "start_date": _d(t0, 14),
        },
        {
            "support_id": "S4",
            "provider_id": "NO",
            "recipient_id": "UK",
            "kind": "medical",
            "contingent_id": "UK-BG1",
        },
    ]
    zones = [
        {
            "zone_id": z,
            "name": f"{city} umbrella",
            "kind": "site",
            "lon": lon,
            "lat": lat,
            "radius_km": r,
            "system": sysname,
            "guarantor_id": g,
            "start_date": _d(t0, -30),
        }
        for z, city, lon, lat, r, sysname, g in _ZONES
    ]
    meetings = [
        {
            "meeting_id": "M1",
            "date": _d(t0, -35),
            "format": "multilateral",
            "participants": ["UA", "UK", "FR", "DE", "PL", "US", "EU"],
            "venue_candidates": ["Paris", "London"],
            "venue": "Paris",
            "status": "held",
            "outcome": "Coalition framework for the reassurance force agreed",
        },
        {
            "meeting_id": "M2",
            "date": _d(t0, -12),
            "format": "trilateral",
            "participants": ["UA", "US", "RU"],
            "venue_candidates": ["Istanbul", "Riyadh", "Geneva"],
            "venue": "Istanbul",
            "status": "held",
            "outcome": "Line of contact and sectors agreed",
        },
        {
            "meeting_id": "M3",
            "date": _d(t0, 3),
            "format": "bilateral",
            "participants": ["UA", "UK"],
            "venue": "Kyiv",
            "status": "held",
            "outcome": "Basing of the UK battlegroup in Dnipro",
        },
        {
            "meeting_id": "M4",
            "date": _d(t0, 10),
            "format": "multilateral",
            "participants": ["UA", "UK", "FR", "DE", "PL", "NO", "NL", "TR", "CA", "EU"],
            "venue_candidates": ["Brussels", "Warsaw"],
            "status": "cancelled",
        },
        {
            "meeting_id": "M5",
            "date": _d(t0, 24),
            "format": "trilateral",
            "participants": ["UA", "US", "RU"],
            "venue_candidates": ["Istanbul", "Geneva"],
            "status": "confirmed",
            "venue": "Geneva",
        },
        {
            "meeting_id": "M6",
            "date": _d(t0, 45),
            "format": "multilateral",
            "participants": ["UA", "UK", "FR", "DE", "PL", "US", "EU"],
            "venue_candidates": ["Rome", "Berlin", "Warsaw"],
            "status": "proposed",
        },
    ]
    return {
        "guarantors": guarantors,
        "commitments": c,
        "contingents": contingents,
        "support": support,
        "protected_zones": zones,
        "meetings": meetings,
    }


def demo_ledger(out_dir: Path, seed: int = 7, *, start: date | None = None) -> Path:
    """Write the demo ledger to ``out_dir/guarantee_ledger.yaml``; returns its path.

    ``start`` anchors the dates (default 2025-09-01; the demo passes its ceasefire day).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "guarantee_ledger.yaml"
    header = (
        "# demo guarantee ledger: generated, plausible, NOT real commitments\n"
        "# format: docs/guarantees.md (import with `ceasewatch guarantee import FILE`)\n"
    )
    body = yaml.safe_dump(
        demo_ledger_data(seed, start=start), sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(header + body, encoding="utf-8")
    return path


def load_demo_ledger(store: AnyStore, path: Path) -> BatchResult:
    """Import the demo ledger (actor ``demo``)."""
    return import_ledger(store, path, actor="demo")


# --- air attacks and alerts in the real layouts ------------------------------------------
_OBLASTS = (
    "Kharkivska oblast",
    "Dnipropetrovska oblast",
    "Zaporizka oblast",
    "Donetska oblast",
    "Kyiv City",
    "Odeska oblast",
    "Mykolaivska oblast",
    "Sumska oblast",
)


def demo_air_attacks_csv(out_dir: Path, *, seed: int = 7, start: date, end: date) -> Path:
    """Nightly drone waves and missile salvos in the ``missile_attacks_daily.csv`` layout
    (newest first, mixed date/date-time formats), with a drop in ballistic interceptions
    over the last week."""
    rng = np.random.default_rng(seed + 101)
    rows: list[tuple[str, str, str, int, int, str]] = []
    days = pd.date_range(start - timedelta(days=70), end, freq="D")
    collapse_from = pd.Timestamp(end) - pd.Timedelta(days=6)
    for d in days:
        calm = d >= pd.Timestamp(start)
        n = int(rng.poisson(25 if calm else 110))
        if n:
            rate = rng.beta(40, 8)
            k = int(rng.binomial(n, rate))
            rows.append(
                (
                    f"{d:%Y-%m-%d} 18:00",
                    f"{d + pd.Timedelta(days=1):%Y-%m-%d} 08:00",
                    "Shahed-136/131",
                    n,
                    k,
                    str(int(n * 0.6)),
                )
            )
        late = d >= collapse_from
        if rng.random() < (0.9 if late else 0.12 if calm else 0.35):
            n = int(rng.integers(4, 12))
            p = 0.08 if late else 0.45
            rows.append(
                (
                    f"{d:%Y-%m-%d}",
                    f"{d:%Y-%m-%d}",
                    "Iskander-M/KN-23",
                    n,
                    int(rng.binomial(n, p)),
                    "",
                )
            )
        if rng.random() < (0.05 if calm else 0.2):
            n = int(rng.integers(5, 40))
            rows.append(
                (
                    f"{d:%Y-%m-%d} 04:00",
                    f"{d:%Y-%m-%d} 09:00",
                    "X-101/X-555",
                    n,
                    int(rng.binomial(n, 0.85)),
                    "",
                )
            )
        if rng.random() < 0.5:
            n = int(rng.integers(1, 6))
            rows.append((f"{d:%Y-%m-%d}", f"{d:%Y-%m-%d}", "Orlan-10", n, n, ""))
    frame = pd.DataFrame(
        rows, columns=["time_start", "time_end", "model", "launched", "destroyed", "is_shahed"]
    )
    frame = frame.iloc[::-1].reset_index(drop=True)
    for col in ("launched", "destroyed"):
        frame[col] = frame[col].astype(float)
    extra = {
        "launch_place": "",
        "target": "Ukraine",
        "target_main": "",
        "not_reach_goal": "",
        "still_attacking": "",
        "border_crossing": "{}",
        "num_hit_location": "",
        "num_fall_fragment_location": "",
        "carrier": "",
        "turbojet": "",
        "turbojet_destroyed": "",
        "affected region": "",
        "destroyed_details": "",
        "launched_details": "",
        "launch_place_details": "",
        "source": "demo/generated",
    }
    for name, value in extra.items():
        frame[name] = value
    cols = [
        "time_start",
        "time_end",
        "model",
        "launch_place",
        "target",
        "target_main",
        "launched",
        "destroyed",
        "not_reach_goal",
        "still_attacking",
        "border_crossing",
        "is_shahed",
        "num_hit_location",
        "num_fall_fragment_location",
        "carrier",
        "turbojet",
        "turbojet_destroyed",
        "affected region",
        "destroyed_details",
        "launched_details",
        "launch_place_details",
        "source",
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "missile_attacks_daily.csv"
    frame[cols].to_csv(path, index=False)
    return path


def demo_air_alerts_csv(out_dir: Path, *, seed: int = 7, start: date, end: date) -> Path:
    """Air-raid alerts in the ``official_data_en.csv`` layout (oblast level)."""
    rng = np.random.default_rng(seed + 202)
    rows = []
    days = pd.date_range(start - timedelta(days=30), end, freq="D")
    for d in days:
        calm = d >= pd.Timestamp(start)
        for i, ob in enumerate(_OBLASTS):
            n = int(rng.poisson((1.2 if calm else 4.0) * (1.6 if i < 4 else 0.7)))
            for _ in range(n):
                s = d + pd.Timedelta(minutes=int(rng.integers(0, 24 * 60)))
                dur = pd.Timedelta(minutes=float(rng.lognormal(3.7, 0.7)))
                rows.append(
                    (
                        ob,
                        "",
                        "",
                        "oblast",
                        s.tz_localize("UTC"),
                        (s + dur).tz_localize("UTC"),
                        "official",
                    )
                )
    frame = pd.DataFrame(
        rows, columns=["oblast", "raion", "hromada", "level", "started_at", "finished_at", "source"]
    )
    for c in ("started_at", "finished_at"):
        frame[c] = frame[c].dt.strftime("%Y-%m-%d %H:%M:%S+00:00")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "official_air_alerts.csv"
    frame.to_csv(path, index=False)
    return path
