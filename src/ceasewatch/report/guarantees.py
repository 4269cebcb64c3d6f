"""The guarantee scorecard: ``report.html`` (self-contained) + ``report.md`` + PNG charts.

:func:`build_guarantee_report` gathers the frames from the store and computes every table
with the pure functions of :mod:`ceasewatch.guarantee`; :func:`write_guarantee_report`
renders it; :func:`report` does both. :func:`guarantee_summary_lines` gives the few lines
the daily report shows.

Every figure drawn from a party's claims says so next to it (``BIAS_NOTES``).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.patches import Polygon as MplPolygon
from shapely.geometry.base import BaseGeometry

from ceasewatch.agreement.model import Agreement
from ceasewatch.guarantee import air_defense, armaments, diplomacy, presence
from ceasewatch.guarantee import schema as gs
from ceasewatch.guarantee.commitments import overdue, scorecard, short_delivered
from ceasewatch.guarantee.importers import places_from_geonames
from ceasewatch.store import guarantee as sg

if TYPE_CHECKING:
    from ceasewatch.store.open import AnyStore

_DPI = 110
#: classes shown in the interception chart (the others are in the table)
CHART_CLASSES = ("attack_drone", "cruise_missile", "ballistic_missile")
CLASS_COLOURS = {
    "attack_drone": "#d95f02",
    "cruise_missile": "#1b9e77",
    "ballistic_missile": "#7570b3",
}


# --- formatting -------------------------------------------------------------------------
def fmt_int(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    return f"{round(float(v)):,}"


def fmt_money(v: Any, cur: str = "€") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    x = float(v)
    if abs(x) >= 1e9:
        return f"{cur}{x / 1e9:,.2f} bn"
    if abs(x) >= 1e6:
        return f"{cur}{x / 1e6:,.0f} m"
    return f"{cur}{x:,.0f}"


def fmt_pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    return f"{100 * float(v):.0f} %"


def fmt_rate(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):.2f}"


def fmt_km(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):,.0f} km"


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, pd.Timestamp | datetime):
        return v.strftime("%Y-%m-%d")
    return str(v)


@dataclass
class Table:
    """A rendered table: header labels, rows of text cells, which columns are numbers."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    note: str = ""


def make_table(
    title: str,
    frame: pd.DataFrame,
    spec: Sequence[tuple[str, str, Callable[[Any], str] | None]],
    *,
    note: str = "",
    limit: int | None = None,
) -> Table:
    """``spec``: (column, label, formatter or None for text) per shown column."""
    f = frame if limit is None else frame.head(limit)
    rows = [[(fn or _text)(r.get(col)) for col, _, fn in spec] for r in f.to_dict("records")]
    return Table(
        title, [label for _, label, _ in spec], rows, [fn is not None for _, _, fn in spec], note
    )


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class GuaranteeReport:
    """Everything the scorecard shows, computed; ``charts`` maps file name → PNG bytes."""

    title: str
    as_of: date
    generated_at: datetime
    summary: list[str]
    sections: list[Section]
    charts: dict[str, bytes]
    captions: dict[str, str]


# --- data gathering -----------------------------------------------------------------
def _latest_agreement(store: AnyStore) -> Agreement | None:
    from ceasewatch.evaluate.run import load_agreements

    try:
        agreements = load_agreements(store)
    except Exception:  # a store without agreements, or one that fails to parse
        return None
    return agreements[max(agreements)] if agreements else None


def _places(places: Path | pd.DataFrame | None) -> pd.DataFrame | None:
    if places is None:
        return None
    if isinstance(places, pd.DataFrame):
        return places
    return places_from_geonames(Path(places))


def build_guarantee_report(
    store: AnyStore,
    *,
    agreement: Agreement | None = None,
    as_of: date | None = None,
    places: Path | pd.DataFrame | None = None,
    generated_at: datetime | None = None,
) -> GuaranteeReport:
    """Compute the scorecard from what the store holds.

    Parameters
    ----------
    agreement
        For the line and the sectors (default: the latest stored version, if any).
    as_of
        The day the scorecard is for: overdue commitments, active contingents (default
        today, UTC).
    places
        Populated places with population (a GeoNames file or a frame with lon, lat,
        population) for the share of people inside protected zones; skipped when absent.
    """
    gen = generated_at or datetime.now(UTC)
    day = as_of or gen.date()
    agreement = agreement if agreement is not None else _latest_agreement(store)
    t = {name: sg.ledger_table(store, name) for name in gs.LEDGER_TABLES}
    sections: list[Section] = []
    charts: dict[str, bytes] = {}
    captions: dict[str, str] = {}
    summary: list[str] = []

    # 1. commitments --------------------------------------------------------------------
    com = t["commitments"]
    sec = Section("commitments", "Commitments of the working group")
    if com.empty:
        sec.paragraphs.append("No commitments in the ledger (`ceasewatch guarantee import`).")
    else:
        sc = scorecard(com, as_of=day, guarantors=t["guarantors"])
        od = overdue(com, as_of=day)
        short = short_delivered(com)
        n_committed = int(com["status"].isin(gs.COMMITTED).sum())
        n_ful = int(com["status"].isin(gs.FULFILLED).sum())
        summary.append(
            f"{len(com)} commitments from {com['guarantor_id'].nunique()} guarantors: "
            f"{n_ful} of {n_committed} promised ones delivered or deployed; "
            f"{len(od)} overdue on {day:%d %b %Y}."
        )
        sec.tables.append(
            make_table(
                "Scorecard: guarantor × component",
                sc,
                [
                    ("guarantor", "guarantor", None),
                    ("component", "component", None),
                    ("n_commitments", "commitments", fmt_int),
                    ("n_proposed", "proposed", fmt_int),
                    ("n_pledged", "pledged", fmt_int),
                    ("n_agreed", "agreed", fmt_int),
                    ("n_delivered", "delivered", fmt_int),
                    ("n_deployed", "deployed", fmt_int),
                    ("n_withdrawn", "withdrawn", fmt_int),
                    ("committed_value_eur", "committed value", fmt_money),
                    ("delivered_value_eur", "delivered value", fmt_money),
                    ("delivery_ratio", "delivered share", fmt_pct),
                    ("n_overdue", "overdue", fmt_int),
                ],
                note="Committed = pledged, agreed, delivered or deployed; a partial delivery "
                "counts its share of the value.",
            )
        )
        sec.tables.append(
            make_table(
                f"Overdue on {day:%d %b %Y} ({len(od)})",
                od,
                [
                    ("commitment_id", "commitment", None),
                    ("guarantor_id", "guarantor", None),
                    ("component", "component", None),
                    ("description", "what", None),
                    ("status", "status", None),
                    ("due_date", "due", None),
                    ("days_overdue", "days overdue", fmt_int),
                ],
                note="Pledged or agreed, and past the due date. A proposal is never overdue.",
            )
        )
        if not short.empty:
            sec.tables.append(
                make_table(
                    "Delivered short of the commitment",
                    short,
                    [
                        ("commitment_id", "commitment", None),
                        ("guarantor_id", "guarantor", None),
                        ("description", "what", None),
                        ("quantity", "committed", fmt_int),
                        ("delivered_quantity", "delivered", fmt_int),
                        ("unit", "unit", None),
                    ],
                )
            )
        charts["pledged_vs_delivered.png"] = chart_pledged_vs_delivered(sc)
        captions["pledged_vs_delivered.png"] = (
            "Ledger: committed vs delivered value per guarantor (EUR)."
        )
        sec.charts.append("pledged_vs_delivered.png")
        sup = t["guarantor_support"]
        if not sup.empty:
            sec.tables.append(
                make_table(
                    "Support between guarantors",
                    sup,
                    [
                        ("provider_id", "provider", None),
                        ("kind", "provides", None),
                        ("recipient_id", "to", None),
                        ("contingent_id", "contingent", None),
                        ("start_date", "from", None),
                    ],
                )
            )
    sections.append(sec)

    # 2. armaments (Kiel) -----------------------------------------------------------------
    aid = sg.dataset(store, "aid_kiel")
    heavy = sg.dataset(store, "heavy_weapons_kiel")
    sec = Section("armaments", "Armaments: pledged vs delivered (Kiel Support Tracker)")
    if aid.empty:
        sec.paragraphs.append("No Kiel tracker loaded (`ceasewatch ingest kiel FILE`).")
    else:
        sec.notes.append(gs.BIAS_NOTES[gs.SOURCE_KIEL])
        donors = armaments.aid_by_donor(aid)
        cats = armaments.aid_by_category(aid)
        gap = armaments.heavy_weapons_gap(heavy)
        tot_c = float(donors["committed_usd"].sum())
        tot_d = float(donors["delivered_usd"].sum())
        summary.append(
            f"Military aid (Kiel, items with an estimate): {fmt_money(tot_c, '$')} committed, "
            f"{fmt_money(tot_d, '$')} delivered ({fmt_pct(tot_d / tot_c if tot_c else np.nan)})."
        )
        sec.tables.append(
            make_table(
                "Military aid by donor (top 15 by committed package value)",
                donors,
                [
                    ("donor", "donor", None),
                    ("n_packages", "packages", fmt_int),
                    ("n_items", "items", fmt_int),
                    ("committed_eur", "committed (EUR, packages)", fmt_money),
                    (
                        "committed_usd",
                        "committed (USD, item estimates)",
                        lambda v: fmt_money(v, "$"),
                    ),
                    ("delivered_usd", "delivered (USD)", lambda v: fmt_money(v, "$")),
                    ("delivery_ratio", "delivered share", fmt_pct),
                ],
                limit=15,
            )
        )
        sec.tables.append(
            make_table(
                "The gap by weapon category",
                cats,
                [
                    ("category", "category", None),
                    ("n_items", "items", fmt_int),
                    ("committed_usd", "committed", lambda v: fmt_money(v, "$")),
                    ("delivered_usd", "delivered", lambda v: fmt_money(v, "$")),
                    ("gap_usd", "gap", lambda v: fmt_money(v, "$")),
                    ("delivery_ratio", "delivered share", fmt_pct),
                ],
            )
        )
        if not gap.empty:
            sec.tables.append(
                make_table(
                    "Heavy weapons (units): committed vs delivered",
                    gap,
                    [
                        ("category", "category", None),
                        ("committed", "committed", fmt_int),
                        ("delivered", "delivered", fmt_int),
                        ("gap", "gap", fmt_int),
                        ("delivery_ratio", "delivered share", fmt_pct),
                        ("n_unreported", "not in delivered sheet", fmt_int),
                    ],
                )
            )
        charts["armaments_gap.png"] = chart_category_gap(cats)
        captions["armaments_gap.png"] = "Kiel: committed vs delivered by weapon category (USD)."
        sec.charts.append("armaments_gap.png")
    losses = sg.dataset(store, "losses_mod")
    oryx = sg.dataset(store, "losses_oryx")
    if not losses.empty or not oryx.empty:
        sec.paragraphs.append("Context: equipment losses (not a measure of guarantees).")
        if not losses.empty:
            sec.notes.append(gs.BIAS_NOTES[gs.SOURCE_LOSSES_MOD])
            charts["losses_context.png"] = chart_losses(losses)
            captions["losses_context.png"] = (
                "Russian equipment losses claimed by the Ukrainian MoD (cumulative; a party's "
                "claims, not verified)."
            )
            sec.charts.append("losses_context.png")
        if not oryx.empty:
            sec.notes.append(gs.BIAS_NOTES[gs.SOURCE_LOSSES_ORYX])
            by = (
                oryx.groupby("equipment_oryx")["losses_total"].sum().sort_values(ascending=False)
            ).reset_index()
            sec.tables.append(
                make_table(
                    "Oryx: visually confirmed Russian losses by category (top 10; undercount)",
                    by,
                    [("equipment_oryx", "category", None), ("losses_total", "losses", fmt_int)],
                    limit=10,
                )
            )
    sections.append(sec)

    # 3. air defense -----------------------------------------------------------------------
    # records after the report's day are left out, so a report "as of" a past day can be
    # regenerated from a store that has learned more since
    cutoff = pd.Timestamp(day) + pd.Timedelta(days=1)
    attacks = sg.dataset(store, "air_attacks")
    if not attacks.empty:
        attacks = attacks[pd.to_datetime(attacks["day"]) < cutoff]
    sec = Section("air_defense", "Air defense")
    if attacks.empty:
        sec.paragraphs.append(
            "No air-attack records loaded (`ceasewatch ingest air-attacks FILE`)."
        )
    else:
        sec.notes.append(gs.BIAS_NOTES[gs.SOURCE_AIR_ATTACKS])
        weekly = air_defense.interception_weekly(attacks)
        alerts = air_defense.collapse_alerts(weekly)
        last_week = weekly["week"].max()
        recent = weekly[weekly["week"] == last_week].sort_values("launched", ascending=False)
        sec.paragraphs.append(
            f"Records from {pd.Timestamp(attacks['day'].min()):%d %b %Y} to "
            f"{pd.Timestamp(attacks['day'].max()):%d %b %Y}: "
            f"{fmt_int(attacks['launched'].sum())} launched, "
            f"{fmt_int(attacks['destroyed'].astype('Float64').sum())} claimed destroyed. "
            "Intervals: Wilson score interval (95 %) on an effective number of launches, "
            "widened for salvo-to-salvo variation (design effect); they do not cover errors "
            "in the claims themselves."
        )
        sec.tables.append(
            make_table(
                f"Claimed interception rate, week of {pd.Timestamp(last_week):%d %b %Y}",
                recent,
                [
                    ("weapon_class", "class", None),
                    ("launched", "launched", fmt_int),
                    ("destroyed", "destroyed (claimed)", fmt_int),
                    ("rate", "rate", fmt_pct),
                    ("lo", "low", fmt_pct),
                    ("hi", "high", fmt_pct),
                ],
            )
        )
        recent_alerts = alerts[alerts["week"] >= last_week - pd.Timedelta(weeks=12)]
        sec.tables.append(
            make_table(
                f"Collapse alerts ({len(alerts)} in the whole series; last 12 weeks shown)",
                recent_alerts,
                [
                    ("week", "week", None),
                    ("weapon_class", "class", None),
                    ("launched", "launched", fmt_int),
                    ("rate", "rate", fmt_pct),
                    ("trailing_rate", "8 weeks before", fmt_pct),
                    ("trailing_lo", "its low bound", fmt_pct),
                ],
                note="An alert: the week's rate is more than 10 points below the lower bound "
                "of the 8 weeks before, with at least 20 launched in each.",
            )
        )
        for r in alerts[alerts["week"] == last_week].itertuples():
            summary.append(
                f"ALERT: claimed interception of {r.weapon_class} fell to {fmt_pct(r.rate)} "
                f"in the week of {pd.Timestamp(r.week):%d %b} (8 weeks before: "
                f"{fmt_pct(r.trailing_rate)})."
            )
        charts["interception.png"] = chart_interception(weekly, alerts, attacks)
        captions["interception.png"] = (
            "Claimed interception rate by week (band: 95 % interval) and launches; "
            "Ukrainian Air Force claims, not independently verified."
        )
        sec.charts.append("interception.png")
    al = sg.dataset(store, "air_alerts")
    if not al.empty:
        al = al[al["started_at"] < cutoff.tz_localize(air_defense.KYIV_TZ)]
    if not al.empty:
        sec.notes.append(gs.BIAS_NOTES[gs.SOURCE_AIR_ALERTS])
        hours = air_defense.alert_hours(al)
        last = hours["day"].max()
        window = hours[hours["day"] > last - pd.Timedelta(days=30)]
        per = (
            window.groupby("oblast")
            .agg(alert_hours=("alert_hours", "sum"), n_alerts=("n_alerts", "sum"))
            .sort_values("alert_hours", ascending=False)
            .reset_index()
        )
        per["per_day"] = per["alert_hours"] / 30.0
        sec.tables.append(
            make_table(
                f"Alert-hours per oblast, 30 days to {pd.Timestamp(last):%d %b %Y} "
                "(oblast-level alerts)",
                per,
                [
                    ("oblast", "oblast", None),
                    ("alert_hours", "alert-hours", fmt_int),
                    ("per_day", "per day", lambda v: f"{v:.1f}"),
                    ("n_alerts", "alerts", fmt_int),
                ],
                limit=12,
            )
        )
        charts["alert_hours.png"] = chart_alert_hours(hours)
        captions["alert_hours.png"] = "Alert-hours per day, summed over oblasts (official alerts)."
        sec.charts.append("alert_hours.png")
    zones_t = t["protected_zones"]
    zones = air_defense.zones_from_frame(zones_t) if not zones_t.empty else []
    if zones:
        pl = _places(places)
        if pl is not None and not pl.empty:
            per_zone, tot = air_defense.population_in_zones(pl, zones)
            summary.append(
                f"Protected zones cover {fmt_pct(tot['share'])} of the population of the "
                f"{int(tot['n_places'])} populated places listed."
            )
            sec.tables.append(
                make_table(
                    "Protected zones: population of populated places inside",
                    per_zone,
                    [
                        ("name", "zone", None),
                        ("n_places", "places", fmt_int),
                        ("population", "population", fmt_int),
                        ("share", "share of listed population", fmt_pct),
                    ],
                    note=f"Inside any zone: {fmt_int(tot['population_covered'])} of "
                    f"{fmt_int(tot['population_total'])} ({fmt_pct(tot['share'])}). Towns as "
                    "points (GeoNames, pre-war populations, towns > 15,000 only).",
                )
            )
        else:
            sec.paragraphs.append(
                f"{len(zones)} protected zones declared; population share not computed "
                "(no populated places given)."
            )
        ev = store.events(columns=["event_id", "occurred_at", "category", "lon", "lat", "source"])
        inc = air_defense.air_incidents_in_zones(ev, zones)
        n_in = int(inc["in_protected_zone"].sum()) if not inc.empty else 0
        sec.paragraphs.append(
            f"Air incidents (missile, drone, air strikes) recorded inside a protected zone: "
            f"{n_in} of {len(inc)}."
        )
        if n_in:
            sec.tables.append(
                make_table(
                    "Air incidents inside protected zones (latest 15)",
                    inc[inc["in_protected_zone"]].sort_values("occurred_at", ascending=False),
                    [
                        ("occurred_at", "when", None),
                        ("category", "category", None),
                        ("zone_ids", "zone", None),
                        ("source", "source", None),
                    ],
                    limit=15,
                )
            )
    sections.append(sec)

    # 4. presence -------------------------------------------------------------------------
    con = t["contingents"]
    sec = Section("presence", "Military presence")
    sector_names = [s for s, _ in agreement.sectors] if agreement is not None else []
    line = agreement.line if agreement is not None else None
    if con.empty:
        sec.paragraphs.append("No contingents in the ledger.")
    else:
        cov = presence.sector_coverage(
            con,
            sector_names,
            on=day,
            line=line,
            sector_geometries=dict(agreement.sectors) if agreement is not None else None,
        )
        n_cov = int(cov.loc[cov["known"], "covered"].sum()) if sector_names else 0
        act = con[presence.active_on(con, day)]
        summary.append(
            f"{len(act)} contingents active ({fmt_int(pd.to_numeric(act['strength']).sum())} "
            f"personnel)"
            + (f"; {n_cov} of {len(sector_names)} sectors covered." if sector_names else ".")
        )
        sec.tables.append(
            make_table(
                f"Sectors of the line on {day:%d %b %Y}",
                cov,
                [
                    ("sector", "sector", None),
                    ("covered", "contingent assigned", lambda v: "yes" if v else "NO"),
                    ("nations", "nations", None),
                    ("roles", "roles", None),
                    ("strength", "strength", fmt_int),
                    ("nearest_base_km", "nearest base to the line", fmt_km),
                ],
            )
        )
        sec.tables.append(
            make_table(
                "Contingents",
                con,
                [
                    ("contingent_id", "contingent", None),
                    ("guarantor_id", "nation", None),
                    ("role", "role", None),
                    ("strength", "strength", fmt_int),
                    ("base_name", "base", None),
                    ("sectors", "sectors", None),
                    ("start_date", "from", None),
                    ("end_date", "until", None),
                ],
            )
        )
        viol = store.violations()
        if sector_names and not viol.empty:
            v_start = pd.to_datetime(viol["occurred_at"]).min().date()
            cmp_ = presence.violations_by_presence(viol, con, sector_names, start=v_start, end=day)
            sec.tables.append(
                make_table(
                    "Violations per day with and without a contingent present",
                    cmp_,
                    [
                        ("sector", "sector", None),
                        ("days_with", "days with", fmt_int),
                        ("per_day_with", "per day with", fmt_rate),
                        ("days_without", "days without", fmt_int),
                        ("per_day_without", "per day without", fmt_rate),
                    ],
                    note="An association, not an effect: contingents are placed by choice.",
                )
            )
    if zones or not con.empty:
        charts["coverage_map.png"] = chart_coverage_map(con, zones, agreement, day)
        captions["coverage_map.png"] = (
            "Contingent bases (size: strength), assigned sectors and protected zones."
        )
        sec.charts.append("coverage_map.png")
    sections.append(sec)

    # 5. diplomacy ---------------------------------------------------------------------
    meet = t["meetings"]
    sec = Section("diplomacy", "Diplomacy")
    if meet.empty:
        sec.paragraphs.append("No meetings in the ledger.")
    else:
        nxt = diplomacy.upcoming(meet, on=day)
        if not nxt.empty:
            r0 = nxt.iloc[0]
            summary.append(
                f"Next meeting: {r0['meeting_id']} ({r0['format']}, {r0['status']}) on "
                f"{_text(r0['date'])}"
                + (f" in {r0['venue']}" if _text(r0.get("venue")) != "–" else "")
                + "."
            )
        sec.tables.append(
            make_table(
                "Meetings",
                meet.sort_values("date"),
                [
                    ("date", "date", None),
                    ("meeting_id", "meeting", None),
                    ("format", "format", None),
                    ("participants", "participants", lambda v: _text(v).replace(";", ", ")),
                    ("venue", "venue", None),
                    ("venue_candidates", "candidates", lambda v: _text(v).replace(";", ", ")),
                    ("status", "status", None),
                    ("outcome", "outcome", None),
                ],
            )
        )
        viol = store.violations()
        tl = diplomacy.meetings_timeline(meet, viol)
        charts["meetings_timeline.png"] = chart_meetings(tl, meet)
        captions["meetings_timeline.png"] = "Violations per week and the meetings of each week."
        sec.charts.append("meetings_timeline.png")
    sections.append(sec)

    return GuaranteeReport(
        title="Security guarantees: scorecard",
        as_of=day,
        generated_at=gen,
        summary=summary,
        sections=sections,
        charts=charts,
        captions=captions,
    )


# --- charts -------------------------------------------------------------------------
def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _empty(fig: Figure, text: str) -> bytes:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return _png(fig)


def chart_pledged_vs_delivered(sc: pd.DataFrame) -> bytes:
    """Horizontal bars: committed vs delivered value per guarantor (EUR bn)."""
    fig = Figure(figsize=(8, 4.2))
    if sc.empty:
        return _empty(fig, "no commitments")
    label = "guarantor" if "guarantor" in sc else "guarantor_id"
    g = sc.groupby(label)[["committed_value_eur", "delivered_value_eur"]].sum()
    g = g.sort_values("committed_value_eur")
    ax = fig.add_subplot()
    y = np.arange(len(g))
    ax.barh(y + 0.2, g["committed_value_eur"] / 1e9, 0.4, color="#9ecae1", label="committed")
    ax.barh(y - 0.2, g["delivered_value_eur"] / 1e9, 0.4, color="#08519c", label="delivered")
    ax.set_yticks(y, list(g.index))
    ax.set_xlabel("EUR bn")
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Guarantee ledger: committed vs delivered", loc="left", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def chart_category_gap(cats: pd.DataFrame) -> bytes:
    fig = Figure(figsize=(8, 4.2))
    c = cats[cats["committed_usd"] > 0].sort_values("committed_usd")
    if c.empty:
        return _empty(fig, "no valued items")
    ax = fig.add_subplot()
    y = np.arange(len(c))
    ax.barh(y + 0.2, c["committed_usd"] / 1e9, 0.4, color="#fdae6b", label="committed")
    ax.barh(y - 0.2, c["delivered_usd"] / 1e9, 0.4, color="#a63603", label="delivered")
    ax.set_yticks(y, list(c["category"]))
    ax.set_xlabel("USD bn (Kiel's own estimates)")
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Military aid by category: pledged vs delivered (Kiel)", loc="left", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def chart_interception(weekly: pd.DataFrame, alerts: pd.DataFrame, attacks: pd.DataFrame) -> bytes:
    """Top: claimed weekly interception rate with its interval per class; bottom: launches."""
    fig = Figure(figsize=(9, 5.6))
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    end = weekly["week"].max()
    start = end - pd.Timedelta(weeks=52)
    for cls in CHART_CLASSES:
        w = weekly[(weekly["weapon_class"] == cls) & (weekly["week"] >= start)]
        if w.empty:
            continue
        col = CLASS_COLOURS[cls]
        ax.plot(w["week"], w["rate"] * 100, "-o", ms=2.5, lw=1.2, color=col, label=cls)
        ax.fill_between(w["week"], w["lo"] * 100, w["hi"] * 100, color=col, alpha=0.15, lw=0)
        a = alerts[(alerts["weapon_class"] == cls) & (alerts["week"] >= start)]
        ax.scatter(a["week"], a["rate"] * 100, marker="v", s=60, color="#b2182b", zorder=5)
    ax.set_ylim(0, 102)
    ax.set_ylabel("claimed intercepted, %")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="v", color="#b2182b", ls="", label="collapse alert"))
    ax.legend(handles=handles, loc="lower left", frameon=False, fontsize=8, ncols=4)
    ax.set_title(
        "Interception rate (Ukrainian Air Force claims; not independently verified)",
        loc="left",
        fontsize=10,
    )
    tot = air_defense.totals_by_period(attacks, freq="W")
    tot = tot[tot["period"] >= start]
    bottom = np.zeros(0)
    weeks = sorted(tot["period"].unique())
    bottom = pd.Series(0.0, index=weeks)
    for cls in CHART_CLASSES:
        v = tot[tot["weapon_class"] == cls].set_index("period")["launched"].reindex(weeks).fillna(0)
        ax2.bar(weeks, v, width=6, bottom=bottom, color=CLASS_COLOURS[cls], label=cls)
        bottom = bottom + v
    ax2.set_ylabel("launched / week")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def chart_alert_hours(hours: pd.DataFrame) -> bytes:
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    daily = hours.groupby("day")["alert_hours"].sum()
    last = daily.index.max()
    daily = daily[daily.index > last - pd.Timedelta(days=365)]
    ax.plot(daily.index, daily.to_numpy(), lw=0.8, color="#6a51a3")
    ax.plot(
        daily.index,
        daily.rolling(7, min_periods=1).mean().to_numpy(),
        lw=1.8,
        color="#3f007d",
        label="7-day mean",
    )
    ax.set_ylabel("alert-hours / day (sum of oblasts)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(
        "Air-raid alert-hours (official alerts; Luhansk and Crimea permanent alerts not recorded)",
        loc="left",
        fontsize=10,
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def chart_losses(losses: pd.DataFrame) -> bytes:
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    wide = armaments.losses_context(
        losses, ("tank", "APC", "field artillery", "MRL", "anti-aircraft warfare")
    )
    for col in wide.columns:
        ax.plot(wide.index, wide[col], lw=1.2, label=col)
    ax.set_ylabel("cumulative (claimed)")
    ax.legend(frameon=False, fontsize=8, ncols=3)
    ax.set_title(
        "Russian equipment losses as claimed by the Ukrainian MoD (a party's claims)",
        loc="left",
        fontsize=10,
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _geom_lines(ax: Any, geom: BaseGeometry, **kw: Any) -> None:
    if geom.is_empty:
        return
    if hasattr(geom, "geoms"):
        for g in geom.geoms:
            _geom_lines(ax, g, **kw)
        return
    if geom.geom_type == "Polygon":
        x, y = geom.exterior.xy
    else:
        x, y = geom.xy
    ax.plot(list(x), list(y), **kw)


def chart_coverage_map(
    contingents: pd.DataFrame,
    zones: Sequence[air_defense.Zone],
    agreement: Agreement | None,
    day: date,
) -> bytes:
    """Map: the line and its sectors (covered green, uncovered red), protected zones,
    contingent bases sized by strength with lines to their sectors."""
    fig = Figure(figsize=(9, 6.2))
    ax = fig.add_subplot()
    covered: set[str] = set()
    if not contingents.empty:
        act = contingents[presence.active_on(contingents, day)]
        covered = set(presence.contingent_sectors(act)["sector"])
    else:
        act = contingents
    if agreement is not None:
        if agreement.boundary is not None:
            _geom_lines(ax, agreement.boundary, color="#999999", lw=0.8)
        for name, geom in agreement.sectors:
            part = agreement.line.intersection(geom)
            colour = "#1a9850" if name in covered else "#d73027"
            _geom_lines(ax, part, color=colour, lw=4, alpha=0.8, solid_capstyle="butt")
            c = part.centroid if not part.is_empty else geom.centroid
            ax.annotate(name, (c.x, c.y), xytext=(8, 0), textcoords="offset points", fontsize=7)
        _geom_lines(ax, agreement.line, color="#222222", lw=1)
    for z in zones:
        poly = z.geometry
        if poly.geom_type == "Polygon":
            ax.add_patch(
                MplPolygon(
                    np.asarray(poly.exterior.coords),
                    closed=True,
                    fc="#6baed6",
                    ec="#2171b5",
                    alpha=0.3,
                    lw=0.8,
                )
            )
            ax.annotate(
                z.name, (poly.centroid.x, poly.centroid.y), fontsize=6, ha="center", color="#08519c"
            )
    if not act.empty:
        sizes = pd.to_numeric(act["strength"], errors="coerce").fillna(100).to_numpy()
        ax.scatter(
            act["base_lon"].astype(float),
            act["base_lat"].astype(float),
            s=20 + sizes / 15,
            marker="s",
            color="#54278f",
            zorder=5,
        )
        for r in act.itertuples():
            ax.annotate(
                f"{r.contingent_id} ({r.role})",
                (float(r.base_lon), float(r.base_lat)),
                xytext=(5, -10),
                textcoords="offset points",
                fontsize=7,
                color="#54278f",
            )
    ax.set_aspect(1 / math.cos(math.radians(48.5)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(
        handles=[
            Line2D([], [], color="#1a9850", lw=4, label="sector with a contingent"),
            Line2D([], [], color="#d73027", lw=4, label="sector without"),
            Patch(fc="#6baed6", ec="#2171b5", alpha=0.5, label="protected zone"),
            Line2D([], [], marker="s", color="#54278f", ls="", label="contingent base"),
        ],
        loc="lower left",
        fontsize=7,
        frameon=True,
    )
    ax.set_title(f"Coverage on {day:%d %b %Y}", loc="left", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def chart_meetings(timeline: pd.DataFrame, meetings: pd.DataFrame) -> bytes:
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    if not timeline.empty:
        ax.bar(
            timeline["period"],
            timeline["n_violations"],
            width=6,
            color="#bdbdbd",
            label="violations / week",
        )
    colours = {
        "held": "#1a9850",
        "confirmed": "#2171b5",
        "proposed": "#fdae61",
        "cancelled": "#d73027",
    }
    top = max(1.0, float(timeline["n_violations"].max()) if not timeline.empty else 1.0)
    for r in meetings.itertuples():
        d = pd.Timestamp(r.date)
        ax.axvline(d, color=colours.get(str(r.status), "#444"), lw=1.5)
        ax.annotate(
            f"{r.meeting_id} {r.format}", (d, top), rotation=90, fontsize=7, va="top", ha="right"
        )
    ax.legend(
        handles=[Line2D([], [], color=c, lw=1.5, label=s) for s, c in colours.items()]
        + [Patch(color="#bdbdbd", label="violations / week")],
        fontsize=7,
        frameon=False,
        ncols=5,
        loc="upper left",
    )
    ax.set_title("Meetings and violations", loc="left", fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


# --- rendering ----------------------------------------------------------------------
def _environment(*, html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ceasewatch", "report/templates"),
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def render_markdown(r: GuaranteeReport) -> str:
    env = _environment(html=False)
    env.filters["md"] = _md_cell
    return env.get_template("guarantees.md.j2").render(r=r, bias=gs.BIAS_NOTES)


def render_html(r: GuaranteeReport) -> str:
    env = _environment(html=True)
    uris = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in r.charts.items()
    }
    return env.get_template("guarantees.html.j2").render(r=r, uris=uris, bias=gs.BIAS_NOTES)


def write_guarantee_report(r: GuaranteeReport, out_dir: Path) -> dict[str, Path]:
    """Write report.html, report.md and the PNG charts; returns their paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, png in r.charts.items():
        p = out_dir / name
        p.write_bytes(png)
        paths[name.removesuffix(".png")] = p
    (out_dir / "report.md").write_text(render_markdown(r), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(r), encoding="utf-8")
    paths["md"] = out_dir / "report.md"
    paths["html"] = out_dir / "report.html"
    return paths


def report(
    store: AnyStore,
    out_dir: Path,
    *,
    agreement: Agreement | None = None,
    as_of: date | None = None,
    places: Path | pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Build and write the guarantee scorecard (``ceasewatch report guarantees -o DIR``)."""
    r = build_guarantee_report(store, agreement=agreement, as_of=as_of, places=places)
    return write_guarantee_report(r, out_dir)


def guarantee_summary_lines(store: AnyStore, *, as_of: date | None = None) -> list[str]:
    """A few plain lines for the daily report's guarantee section (empty when the store
    holds no guarantee data): commitments and overdue, the latest claimed interception
    rates and any collapse alert, contingents, the next meeting."""
    day = as_of or datetime.now(UTC).date()
    lines: list[str] = []
    com = sg.ledger_table(store, "commitments")
    if not com.empty:
        od = overdue(com, as_of=day)
        n_committed = int(com["status"].isin(gs.COMMITTED).sum())
        n_ful = int(com["status"].isin(gs.FULFILLED).sum())
        line = (
            f"Guarantee commitments: {n_ful} of {n_committed} delivered or deployed; "
            f"{len(od)} overdue"
        )
        if not od.empty:
            worst = od.iloc[0]
            line += (
                f" (longest: {worst['commitment_id']}, {worst['guarantor_id']}, "
                f"{int(worst['days_overdue'])} days)"
            )
        lines.append(line + ".")
    attacks = sg.dataset(store, "air_attacks")
    if not attacks.empty:
        recent = attacks[pd.to_datetime(attacks["day"]) > pd.Timestamp(day) - timedelta(days=7)]
        recent = recent[pd.to_datetime(recent["day"]) <= pd.Timestamp(day)]
        if not recent.empty:
            w = air_defense.interception_weekly(recent, design_effect=False)
            g = w.groupby("weapon_class")[["launched", "destroyed"]].sum()
            parts = [
                f"{cls} {int(r.destroyed)}/{int(r.launched)}"
                for cls, r in g.sort_values("launched", ascending=False).head(3).iterrows()
            ]
            lines.append(
                "Air attacks, last 7 days (claimed destroyed/launched, Ukrainian Air Force "
                "claims, unverified): " + ", ".join(parts) + "."
            )
        weekly = air_defense.interception_weekly(
            attacks[pd.to_datetime(attacks["day"]) <= pd.Timestamp(day)]
        )
        if not weekly.empty:
            alerts = air_defense.collapse_alerts(weekly)
            for r in alerts[alerts["week"] == weekly["week"].max()].itertuples():
                lines.append(
                    f"ALERT: claimed interception of {r.weapon_class} fell to "
                    f"{fmt_pct(r.rate)} (8 weeks before: {fmt_pct(r.trailing_rate)})."
                )
    con = sg.ledger_table(store, "contingents")
    if not con.empty:
        act = con[presence.active_on(con, day)]
        sectors = set(presence.contingent_sectors(act)["sector"])
        lines.append(
            f"Reassurance force: {len(act)} contingents active, "
            f"{fmt_int(pd.to_numeric(act['strength'], errors='coerce').sum())} personnel, "
            f"{len(sectors)} sectors with a contingent."
        )
    meet = sg.ledger_table(store, "meetings")
    if not meet.empty:
        nxt = diplomacy.upcoming(meet, on=day)
        if not nxt.empty:
            r0 = nxt.iloc[0]
            lines.append(
                f"Next meeting: {r0['meeting_id']} ({r0['format']}, {r0['status']}) on "
                f"{_text(r0['date'])}."
            )
    return lines
