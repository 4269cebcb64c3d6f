"""Air attacks and air-raid alerts: the importers on the real files, rates, alert-hours."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.guarantee import air_defense as ad
from ceasewatch.guarantee.importers import (
    WEAPON_MODEL_CLASS,
    air_alerts_from_csv,
    air_attacks_from_csv,
    parse_local_times,
    weapon_class,
)
from ceasewatch.guarantee.ingest import ingest_air_alerts, ingest_air_attacks
from ceasewatch.store import guarantee as sg
from ceasewatch.store.duckdb import DuckDBStore

ATTACKS = ("missile_attacks", "missile_attacks_daily.csv")
ALERTS = ("air_raid_alerts", "official_data_en.csv")


@pytest.fixture(scope="module")
def attacks() -> tuple[pd.DataFrame, pd.DataFrame]:
    return air_attacks_from_csv(shared_file(*ATTACKS))


@pytest.fixture(scope="module")
def alerts() -> tuple[pd.DataFrame, pd.DataFrame]:
    return air_alerts_from_csv(shared_file(*ALERTS))


# --- attacks -----------------------------------------------------------------------------
def test_attack_rows_and_quarantine(attacks: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, q = attacks
    # 3,585 records; three give no number launched (lines 2785, 2791, 2842: C-300 and
    # Iskander-M reports of Feb 2024 with destroyed 0 and launched empty)
    assert len(frame) + len(q) == 3585
    assert len(frame) == 3582
    assert list(q["line_no"]) == [2785, 2791, 2842]
    assert (q["reason"] == "launched is empty: the number launched is not given").all()
    assert frame["launched"].sum() == 99570
    # six records give launched but not destroyed: kept, left out of rates
    assert frame["destroyed"].isna().sum() == 6
    assert frame["destroyed"].sum() == 72692


def test_mixed_time_formats(attacks: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, _ = attacks
    # 2,158 dates and 1,427 date-times in time_start; the three quarantined rows were dates
    assert frame["time_start_precision"].value_counts().to_dict() == {"day": 2155, "minute": 1427}
    row = frame.set_index("line_no").loc[3361]  # '2023-05-16 3:30', one-digit hour
    assert row["time_start"] == pd.Timestamp("2023-05-16 00:30", tz="UTC")  # Kyiv is UTC+3
    assert row["time_start_precision"] == "minute"
    t, p = parse_local_times(pd.Series(["2024-05-16 ", "2022-12-01", "2022-10-30 03:30", "x"]))
    assert list(p[:3]) == ["day", "day", "minute"] and pd.isna(p[3])
    assert t[1] == pd.Timestamp("2022-11-30 22:00", tz="UTC")  # local midnight, winter time
    assert t[2] == pd.Timestamp("2022-10-30 00:30", tz="UTC")  # repeated hour: summer reading
    assert pd.isna(t[3])


def test_is_shahed_is_a_count(attacks: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, _ = attacks
    s = frame["is_shahed"].dropna()
    assert len(s) == 210 and s.sum() == 22188 and s.max() == 400
    assert (s <= frame.loc[s.index, "launched"]).all()


def test_weapon_classes() -> None:
    assert weapon_class("Shahed-136/131") == "attack_drone"
    assert weapon_class("X-101/X-555 and Kalibr and Iskander-K") == "cruise_missile"
    assert weapon_class("X-47 Kinzhal and Iskander-M") == "ballistic_missile"
    assert weapon_class("C-300 and Iskander-M") == "mixed"
    assert weapon_class("Orlan-10 and ZALA and Supercam") == "reconnaissance_drone"
    assert weapon_class("Brand-new drone") == "unmapped"


def test_month_totals_independent(attacks: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # July 2025 by class, with the csv module: the local date is the text's first 10 chars
    launched: dict[str, float] = defaultdict(float)
    destroyed: dict[str, float] = defaultdict(float)
    with open(shared_file(*ATTACKS), newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["time_start"].startswith("2025-07") or not row["launched"]:
                continue
            parts = [p.strip() for p in row["model"].split(" and ")]
            classes = {WEAPON_MODEL_CLASS.get(p, "unmapped") for p in parts}
            cls = classes.pop() if len(classes) == 1 else "mixed"
            launched[cls] += float(row["launched"])
            destroyed[cls] += float(row["destroyed"] or 0)
    frame, _ = attacks
    m = ad.totals_by_period(frame, freq="M")
    m = m[m["period"] == pd.Timestamp("2025-07-01")].set_index("weapon_class")
    assert m["launched"].to_dict() == dict(launched)
    assert m["destroyed"].astype(float).to_dict() == dict(destroyed)
    assert launched["attack_drone"] == 6347 and destroyed["attack_drone"] == 3601


def test_wilson_interval() -> None:
    lo, hi = ad.wilson_interval([8, 0, 5], [10, 10, 0])
    assert lo[0] == pytest.approx(0.4902, abs=1e-4) and hi[0] == pytest.approx(0.9433, abs=1e-4)
    assert lo[1] == 0.0 and hi[1] == pytest.approx(0.2775, abs=1e-4)
    assert np.isnan(lo[2])


def test_weekly_rate_and_interval(attacks: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, _ = attacks
    w = ad.interception_weekly(frame, design_effect=False)
    row = w[(w["weapon_class"] == "attack_drone") & (w["week"] == pd.Timestamp("2025-07-07"))]
    sel = frame[
        (frame["weapon_class"] == "attack_drone")
        & (frame["day"] >= pd.Timestamp("2025-07-07"))
        & (frame["day"] < pd.Timestamp("2025-07-14"))
        & frame["destroyed"].notna()
    ]
    k, n = float(sel["destroyed"].sum()), float(sel["launched"].sum())
    assert row["rate"].iloc[0] == pytest.approx(k / n)
    lo, hi = ad.wilson_interval(k, n)
    assert row["lo"].iloc[0] == pytest.approx(float(lo)) and row["hi"].iloc[0] == pytest.approx(
        float(hi)
    )
    # the design effect widens the interval (salvos are not independent trials)
    w2 = ad.interception_weekly(frame)
    r2 = w2[(w2["weapon_class"] == "attack_drone") & (w2["week"] == pd.Timestamp("2025-07-07"))]
    assert (r2["hi"] - r2["lo"]).iloc[0] > (row["hi"] - row["lo"]).iloc[0]


def _weekly(rates: list[float], launched: float = 100.0) -> pd.DataFrame:
    weeks = pd.date_range("2025-01-06", periods=len(rates), freq="7D")
    return pd.DataFrame(
        {
            "weapon_class": "ballistic_missile",
            "week": weeks,
            "n_records": 5,
            "launched": launched,
            "destroyed": [r * launched for r in rates],
            "rate": rates,
            "lo": np.nan,
            "hi": np.nan,
            "n_eff": launched,
        }
    )


def test_collapse_alert() -> None:
    steady = [0.40, 0.42, 0.38, 0.41, 0.39, 0.40, 0.43, 0.40]
    alerts = ad.collapse_alerts(_weekly([*steady, 0.08]))
    assert len(alerts) == 1 and alerts["week"].iloc[0] == pd.Timestamp("2025-03-03")
    assert alerts["trailing_rate"].iloc[0] == pytest.approx(sum(steady) / 8)
    # a dip inside the noise is not an alert, nor a collapse on too few launches
    assert ad.collapse_alerts(_weekly([*steady, 0.33])).empty
    assert ad.collapse_alerts(_weekly([*steady, 0.08], launched=10)).empty


def test_ingest_attacks(store: DuckDBStore) -> None:
    r = ingest_air_attacks(store, shared_file(*ATTACKS))
    assert (r.rows_read, r.loaded, r.quarantined) == (3585, 3582, 3)
    assert r.reasons == {"launched is empty: the number launched is not given": 3}
    assert len(sg.dataset(store, "air_attacks")) == 3582
    assert set(store.quarantine()["line_no"]) == {2785, 2791, 2842}


# --- alerts ------------------------------------------------------------------------------
def test_alert_rows_and_quarantine(alerts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, q = alerts
    assert len(frame) + len(q) == 43031 and len(frame) == 43030
    # line 18: oblast 'Lubenskyi raion', raion 'Poltavska oblast' (columns swapped)
    assert list(q["line_no"]) == [18]
    assert "oblast 'Lubenskyi raion' is not an oblast" in q["reason"].iloc[0]
    assert "'Poltavska oblast'" in q["reason"].iloc[0]
    # the quarantined record was a hromada-level alert
    assert frame["level"].value_counts().to_dict() == {
        "oblast": 36537,
        "hromada": 5596,
        "raion": 897,
    }


def _hand_hours(frame: pd.DataFrame, oblast: str, day: str) -> float:
    """Seconds under alert on a Kyiv local day, counted on a one-second grid."""
    start = pd.Timestamp(day, tz="Europe/Kyiv").tz_convert("UTC")
    end = (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize("Europe/Kyiv").tz_convert("UTC")
    n = int((end - start).total_seconds())
    grid = np.zeros(n, dtype=bool)
    sel = frame[(frame["oblast"] == oblast) & (frame["level"] == "oblast")]
    for s, e in zip(sel["started_at"], sel["finished_at"], strict=True):
        a = int(np.floor((max(s, start) - start).total_seconds()))
        b = int(np.floor((min(e, end) - start).total_seconds()))
        if b > a:
            grid[a:b] = True
    return grid.sum() / 3600.0


def test_alert_hours_by_hand(alerts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, _ = alerts
    hours = ad.alert_hours(frame).set_index(["oblast", "day"])
    # Kyiv City, 16 May 2023 (the night of the Kinzhal salvo): 23:24:39-01:03:23 and
    # 01:22:02-02:33:25 UTC, then 20:09:17 UTC cut at local midnight (21:00 UTC)
    got = hours.loc[("Kyiv City", pd.Timestamp("2023-05-16")), "alert_hours"]
    by_hand = (
        pd.Timedelta("1:38:44") + pd.Timedelta("1:11:23") + pd.Timedelta("0:50:43")
    ).total_seconds() / 3600
    assert got == pytest.approx(by_hand, abs=1e-6)
    assert got == pytest.approx(_hand_hours(frame, "Kyiv City", "2023-05-16"), abs=2 / 3600)
    for oblast, day in (("Kharkivska oblast", "2022-10-10"), ("Odeska oblast", "2023-07-20")):
        assert hours.loc[(oblast, pd.Timestamp(day)), "alert_hours"] == pytest.approx(
            _hand_hours(frame, oblast, day), abs=3 / 3600
        )
    assert hours["alert_hours"].max() <= 24.0 + 1e-9


def test_alert_hours_dst_and_overlaps() -> None:
    t = pd.Timestamp
    frame = pd.DataFrame(
        {
            "oblast": ["A", "A", "A", "B"],
            "level": ["oblast"] * 4,
            # A: two overlapping alerts (counted once) crossing local midnight
            "started_at": [
                t("2023-06-01 20:00", tz="UTC"),
                t("2023-06-01 20:30", tz="UTC"),
                t("2023-06-02 05:00", tz="UTC"),
                # B: the whole 25-hour day of 30 Oct 2022 (clocks go back)
                t("2022-10-29 20:00", tz="UTC"),
            ],
            "finished_at": [
                t("2023-06-01 22:00", tz="UTC"),
                t("2023-06-01 21:30", tz="UTC"),
                t("2023-06-02 06:00", tz="UTC"),
                t("2022-10-31 00:00", tz="UTC"),
            ],
        }
    )
    h = ad.alert_hours(frame).set_index(["oblast", "day"])["alert_hours"]
    assert h[("A", t("2023-06-01"))] == pytest.approx(1.0)  # 20:00-21:00 UTC = 23:00-24:00
    assert h[("A", t("2023-06-02"))] == pytest.approx(2.0)  # 00:00-01:00 local + 1 h
    assert h[("B", t("2022-10-30"))] == pytest.approx(25.0)
    assert h[("B", t("2022-10-29"))] == pytest.approx(1.0)


def test_ingest_alerts(store: DuckDBStore, tmp_path: Path) -> None:
    r = ingest_air_alerts(store, shared_file(*ALERTS))
    assert (r.rows_read, r.loaded, r.quarantined) == (43031, 43030, 1)
    q = store.quarantine()
    assert list(q["line_no"]) == [18] and q["source"].iloc[0] == "air_alerts"
