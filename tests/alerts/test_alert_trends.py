"""Spike, expanded-attack and silence detection on generated count frames (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ceasewatch.alerts.trends import (
    AlertPolicy,
    DayGrid,
    ExpandedAttackRule,
    SilenceRule,
    SpikeThresholds,
    alert_id,
    alerts_from_spikes,
    alerts_from_violations,
    detect_expanded_attacks,
    detect_silence,
    detect_spikes,
    nb_tail,
    simulate_false_alarms,
    spike_scores,
    spikes_only,
)
from ceasewatch.normalize import schema

GRID = DayGrid("UTC", time(0, 0))  # report days = UTC calendar days (end-inclusive)
SECTORS = ("North", "Centre", "South")
START = datetime(2025, 6, 1, tzinfo=UTC)


def _violations(
    rates: dict[str, list[float]],
    *,
    seed: int = 1,
    severity: str = "warning",
    precision: str = "minute",
) -> pd.DataFrame:
    """Violations drawn per sector and day: ``rates[sector][day]`` Poisson means."""
    rng = np.random.default_rng(seed)
    rows = []
    for sector, per_day in rates.items():
        for d, lam in enumerate(per_day):
            for _ in range(rng.poisson(lam)):
                t = START + timedelta(days=d, seconds=int(rng.integers(60, 86_000)))
                rows.append(
                    {
                        schema.VIOLATION_ID: f"V{len(rows):05d}",
                        schema.OCCURRED_AT: pd.Timestamp(t),
                        schema.TIME_PRECISION: precision,
                        schema.SECTOR: sector,
                        schema.ZONE: "disengagement",
                        schema.CATEGORY: "shelling",
                        schema.SEVERITY: severity,
                        schema.STATUS: "detected",
                    }
                )
    return pd.DataFrame(rows)


def _day_end(d: int, hour: int = 23) -> datetime:
    return START + timedelta(days=d, hours=hour)


def test_nb_tail_is_poisson_without_overdispersion_and_heavier_with_it() -> None:
    k = np.array([0, 1, 5, 10])
    assert np.allclose(nb_tail(k, 3.0, 3.0), [1.0, *stats.poisson.sf(k[1:] - 1, 3.0)])
    # the same mean with more variance gives a fatter upper tail
    assert (nb_tail([10], 3.0, 9.0) > nb_tail([10], 3.0, 3.0)).all()
    # method of moments: mean 4, variance 12 is NB(r=2, p=1/3)
    assert nb_tail([8], 4.0, 12.0)[0] == pytest.approx(stats.nbinom.sf(7, 2, 1 / 3))


def test_sudden_escalation_in_one_sector_is_a_warning_and_nothing_else_alerts() -> None:
    days = 40
    rates = {s: [3.0] * days for s in SECTORS}
    rates["South"] = [3.0] * 35 + [15.0] * 5
    v = _violations(rates)
    scores = detect_spikes(
        v,
        policy=AlertPolicy(hourly=None),
        grid=GRID,
        now=_day_end(35),
        coverage=None,
        sectors=SECTORS,
        freqs=("D",),
    )
    spikes = spikes_only(scores)
    sector_spikes = spikes[spikes["dimension"] == "sector"]
    assert set(sector_spikes["key"]) == {"South"}
    south = sector_spikes.iloc[-1]
    assert south["level"] == "warning"
    assert south["period"] == GRID.day_at(_day_end(35))
    assert south["count"] >= 10 and south["expected"] < 5
    assert bool(south["partial"])  # the day is still running at 23:00
    # the untested dimensions and keys carry their reason
    assert set(scores["status"]) <= {"tested", "short_baseline", "not_observed"}
    alerts = alerts_from_spikes(scores, now=_day_end(35))
    assert {a.level for a in alerts if a.subject == "sector:South"} == {"warning"}
    assert "South" in alerts[0].title or any("South" in a.title for a in alerts)


def test_low_counts_do_not_alert() -> None:
    # a sector quiet for four weeks: one or two violations are not a spike
    rates = {"North": [0.05] * 30 + [2.0]}
    v = _violations(rates, seed=3)
    v = pd.concat([v, v.iloc[:0]], ignore_index=True)  # keep the frame's columns even when few rows
    scores = detect_spikes(
        v,
        policy=AlertPolicy(hourly=None),
        grid=GRID,
        now=_day_end(30),
        sectors=("North",),
        freqs=("D",),
    )
    last = scores[(scores["dimension"] == "sector") & (scores["period"] == date(2025, 7, 1))]
    assert len(last) == 1
    row = last.iloc[0]
    assert row["expected"] >= 0.5  # floored: a quiet baseline is not "no risk"
    assert row["count"] < 5 or row["level"] is None
    assert spikes_only(scores).empty


def test_min_count_and_ratio_gate_small_significant_changes() -> None:
    thr = SpikeThresholds(notice=0.01, warning=0.001, min_count=5, min_ratio=2.0)
    assert thr.level(4, 0.5, 1e-6) is None  # too few
    assert thr.level(30, 20.0, 1e-4) is None  # significant but not twice the usual
    assert thr.level(12, 3.0, 5e-4) == "warning"
    assert thr.level(12, 3.0, 5e-3) == "notice"


def test_unobserved_days_stay_out_of_the_baseline_and_are_not_tested() -> None:
    # 6 a day, but half the days were not observed (no record from any source)
    days = 35
    rates = {"North": [6.0] * days}
    v = _violations(rates, seed=5)
    day_list = [(START + timedelta(days=d)).date() for d in range(days)]
    observed = [d for i, d in enumerate(day_list) if i % 2 == 0 or i == days - 1]
    v = v[GRID.day_of(v[schema.OCCURRED_AT]).isin(observed)]
    cov_all = pd.DataFrame(
        {"sector": "North", "day": day_list, "observed": [d in observed for d in day_list]}
    )
    with_cov = detect_spikes(
        v,
        policy=AlertPolicy(hourly=None, dimensions=("sector",)),
        grid=GRID,
        now=_day_end(days - 1),
        coverage=cov_all,
        targets_from=START + timedelta(days=20),
        sectors=("North",),
        freqs=("D",),
    )
    tested = with_cov[with_cov["status"] == "tested"]
    assert (tested["expected"] > 4).all()  # the baseline is ~6, not diluted to ~3
    assert (with_cov.loc[with_cov["status"] == "not_observed", "count"] == 0).all()
    assert spikes_only(with_cov).empty
    # without coverage the empty days look like calm days: the baseline halves and a
    # normal day becomes a "spike" somewhere — the false alarm coverage prevents
    without = detect_spikes(
        v,
        policy=AlertPolicy(hourly=None, dimensions=("sector",)),
        grid=GRID,
        now=_day_end(days - 1),
        coverage=None,
        targets_from=START + timedelta(days=20),
        sectors=("North",),
        freqs=("D",),
    )
    assert without.loc[without["status"] == "tested", "expected"].mean() < 4.5


def test_hourly_counts_ignore_records_known_only_to_the_day() -> None:
    v = _violations({"North": [4.0] * 30}, seed=2)
    # twelve day-precision records all stamped at midnight: not an hourly burst
    burst = pd.DataFrame(
        {
            schema.VIOLATION_ID: [f"D{i}" for i in range(12)],
            schema.OCCURRED_AT: pd.Timestamp(START + timedelta(days=29)),
            schema.TIME_PRECISION: "day",
            schema.SECTOR: "North",
            schema.ZONE: "disengagement",
            schema.CATEGORY: "shelling",
            schema.SEVERITY: "warning",
            schema.STATUS: "detected",
        }
    )
    scores = detect_spikes(
        pd.concat([v, burst], ignore_index=True),
        policy=AlertPolicy(dimensions=("sector",)),
        grid=GRID,
        now=_day_end(29, 3),
        sectors=("North",),
        freqs=("h",),
    )
    midnight = scores[scores["period"] == pd.Timestamp(START + timedelta(days=29))]
    assert len(midnight) == 1 and midnight.iloc[0]["count"] < 12
    assert midnight.iloc[0]["level"] is None


def test_dismissed_violations_never_count() -> None:
    rates = {"North": [3.0] * 30 + [20.0]}
    v = _violations(rates, seed=4)
    last_day = v[schema.OCCURRED_AT] >= pd.Timestamp(START + timedelta(days=30))
    v.loc[last_day, schema.STATUS] = "dismissed"
    scores = detect_spikes(
        v,
        policy=AlertPolicy(hourly=None),
        grid=GRID,
        now=_day_end(30),
        sectors=("North",),
        freqs=("D",),
    )
    assert spikes_only(scores).empty


def _breaches(times: list[datetime], sector: str, severity: str = "breach") -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.VIOLATION_ID: [f"B{sector}{i}" for i in range(len(times))],
            schema.OCCURRED_AT: [pd.Timestamp(t) for t in times],
            schema.TIME_PRECISION: "minute",
            schema.SECTOR: sector,
            schema.ZONE: "artillery",
            schema.CATEGORY: "shelling",
            schema.SEVERITY: severity,
            schema.STATUS: "detected",
        }
    )


def test_expanded_attack_needs_breaches_in_the_window_and_a_spike() -> None:
    base = _violations({s: [2.0] * 31 for s in SECTORS}, seed=6, severity="warning")
    surge_t = [START + timedelta(days=30, hours=2 + i) for i in range(9)]
    v = pd.concat([base, _breaches(surge_t, "Centre")], ignore_index=True)
    pol = AlertPolicy(expanded_attack=ExpandedAttackRule(min_breaches=5))
    now = START + timedelta(days=30, hours=12)
    scores = detect_spikes(v, policy=pol, grid=GRID, now=now, sectors=SECTORS)
    assert "Centre" in set(spikes_only(scores)["key"])
    ea = detect_expanded_attacks(v, scores, policy=pol, grid=GRID, now=now)
    assert list(ea["sector"]) == ["Centre"]
    row = ea.iloc[0]
    # the fifth breach within 24 h completes the rule; the clock runs from the first
    assert row["n_breaches"] == 5 and row["started_at"] == pd.Timestamp(surge_t[0])
    assert row["crossed_at"] == pd.Timestamp(surge_t[4])
    assert len(row["violation_ids"]) == 5
    # without a spike the same breaches are not enough
    assert detect_expanded_attacks(v, scores.iloc[0:0], policy=pol, grid=GRID, now=now).empty
    # four breaches are not enough either, spike or not
    v4 = pd.concat([base, _breaches(surge_t[:4], "Centre")], ignore_index=True)
    assert detect_expanded_attacks(v4, scores, policy=pol, grid=GRID, now=now).empty
    # breaches spread over more than the window do not add up
    spread = [START + timedelta(days=26 + i, hours=3) for i in range(5)]
    v_spread = pd.concat([base, _breaches(spread, "Centre")], ignore_index=True)
    assert detect_expanded_attacks(v_spread, scores, policy=pol, grid=GRID, now=now).empty
    # a violation the agreement grades expanded_attack is one by itself
    one = _breaches(surge_t[:1], "North", severity="expanded_attack")
    ea1 = detect_expanded_attacks(
        pd.concat([base, one]), scores.iloc[0:0], policy=pol, grid=GRID, now=now
    )
    assert list(ea1["sector"]) == ["North"]
    assert ea1.iloc[0]["reason"] == "violation graded expanded_attack"


def test_silent_source_is_flagged_once_per_run_and_lag_is_respected() -> None:
    days = [date(2025, 6, 1) + timedelta(days=i) for i in range(30)]
    rec = pd.DataFrame(
        {
            "source": ["acled"] * 30 + ["firms"] * 30,
            "day": days * 2,
            "n_records": [10] * 27 + [0, 0, 0] + [40] * 30,
        }
    )
    rule = SilenceRule(min_mean_per_day=3, p_value=0.001)
    out = detect_silence(rec, key_col="source", days=days[-3:], rule=rule)
    assert set(out["key"]) == {"acled"}
    assert out["run_start"].nunique() == 1 and out["run_start"].iloc[0] == days[27]
    assert list(out["run_days"]) == [1, 2, 3]
    # acled releases a week late: its recent days are not tested
    lagged = detect_silence(
        rec, key_col="source", days=days[-3:], rule=SilenceRule(lag_days={"acled": 7})
    )
    assert lagged.empty
    # a source that delivers little is never "silent"
    sparse = rec.assign(n_records=rec["n_records"].where(rec["source"] != "acled", 1))
    sparse.loc[(sparse["source"] == "acled") & sparse["day"].isin(days[-3:]), "n_records"] = 0
    assert detect_silence(sparse, key_col="source", days=days[-3:], rule=rule).empty


def test_violation_alerts_carry_deterministic_ids_and_levels() -> None:
    v = _violations({"North": [1.0] * 3}, seed=7, severity="breach")
    now = START + timedelta(days=4)
    first = alerts_from_violations(v, policy=AlertPolicy(), now=now)
    again = alerts_from_violations(v, policy=AlertPolicy(), now=now + timedelta(hours=1))
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert all(a.level == "breach" and a.kind == "violation" for a in first)
    assert first[0].alert_id == alert_id("violation", v.iloc[0][schema.VIOLATION_ID], "breach")
    # below the policy's level: no alert per violation
    low = alerts_from_violations(
        v.assign(**{schema.SEVERITY: "warning"}), policy=AlertPolicy(), now=now
    )
    assert low == []
    body = first[0].body()
    assert b'"kind":"violation"' in body and first[0].document()["id"] == first[0].alert_id


def test_spike_scores_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        spike_scores(
            np.zeros((2, 3)),
            np.ones((2, 4), dtype=bool),
            baseline=2,
            min_baseline=1,
            thresholds=SpikeThresholds(),
        )


def test_false_alarm_rate_on_stationary_counts_is_bounded() -> None:
    pois = simulate_false_alarms(mean_per_day=5.0, n_sectors=6, weeks=26, seed=11)
    nb = simulate_false_alarms(mean_per_day=5.0, dispersion=4.0, n_sectors=6, weeks=26, seed=12)
    # nominal notice rate is 7 days x 1 % = 0.07 a sector-week; the gates keep it lower
    assert pois["daily_alerts_per_sector_week"] <= 0.07
    assert pois["daily_warnings_per_sector_week"] <= 0.02
    assert nb["sector_weeks_with_any_alert"] <= 0.15
    assert nb["daily_warnings_per_sector_week"] <= 0.04
