"""The weekly report: seven report days of violations, alerts and response clocks.

Like the daily report, a pure builder (:func:`build_weekly_report`) over frames and
renderers (Markdown, self-contained HTML, a PNG chart, and PDF through
:mod:`ceasewatch.report.pdf`); :func:`weekly_report_from_store` gathers the frames.

Counting conventions
--------------------
* the week is the seven report days ending on ``last_day`` (each day ending at the
  agreement's local cut-off, as in the daily report); the previous week the seven before;
* dismissed violations are excluded everywhere (their number is stated);
* the "4-week rate" is the mean violations per *observed* day of the 28 days before the
  week, times seven: a day on which no source delivered anything from a sector is not
  counted as a quiet day of that sector (for totals, zones and categories: a day on which
  no source delivered anything at all);
* clocks: *open* at the time the report was generated (with time left, negative when
  overdue), *missed* (a deadline that passed without a recorded action, closed late or
  not at all) among the clocks whose deadline fell before the end of the week, and
  *closed* in the week.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ceasewatch.alerts.trends import DayGrid
from ceasewatch.normalize import schema

WEEK_DAYS: Final = 7
HISTORY_WEEKS: Final = 4
MAX_ALERTS_LISTED: Final = 40
NO_SECTOR: Final = "(no sector)"
NO_ZONE: Final = "(no zone)"
#: alert kinds worth listing one by one (violations are counted, not listed)
LISTED_KINDS: Final = (
    "expanded_attack",
    "spike",
    "source_silent",
    "sector_unobserved",
    "clock_missed",
)
_SEV_RANK: Final = {s: i for i, s in enumerate(schema.SEVERITIES)}


@dataclass(frozen=True)
class WeekRow:
    """One row of a count table: this week, the previous week, the 4-week rate."""

    label: str
    this_week: int
    previous_week: int
    rate4: float | None
    unobserved_days: int = 0

    @property
    def change(self) -> int:
        return self.this_week - self.previous_week


@dataclass(frozen=True)
class ClockRow:
    clock_id: str
    step: str
    subject: str
    started_at: datetime
    deadline: datetime
    status: str
    who: str
    hours_left: float | None
    closed_at: datetime | None
    closed_by: str
    action: str
    on_time: bool | None


@dataclass(frozen=True)
class AlertRow:
    raised_at: datetime
    level: str
    kind: str
    title: str


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the weekly report shows; rendered by the templates and :mod:`pdf`."""

    number: str
    title: str
    first_day: date
    last_day: date
    period_start: datetime
    period_end: datetime
    timezone: str
    agreement_name: str
    agreement_version: int
    generated_at: datetime
    summary: tuple[str, ...]
    total: WeekRow
    daily: tuple[tuple[date, int, int, int], ...]
    by_sector: tuple[WeekRow, ...]
    by_zone: tuple[WeekRow, ...]
    by_category: tuple[WeekRow, ...]
    by_severity: tuple[tuple[str, int], ...]
    n_dismissed: int
    alerts_by_kind: tuple[tuple[str, str, int], ...]
    alerts: tuple[AlertRow, ...]
    n_alerts_listed_total: int
    clocks_at: datetime
    clocks_open: tuple[ClockRow, ...]
    clocks_missed: tuple[ClockRow, ...]
    clocks_closed: tuple[ClockRow, ...]
    unobserved: tuple[tuple[str, date], ...]
    sources: tuple[tuple[str, int, int], ...]
    silent_sources: tuple[str, ...]
    daily_by_sector: pd.DataFrame = field(repr=False, compare=False)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(WEEK_DAYS)]


# --- building --------------------------------------------------------------------------------
def _rows(
    vio: pd.DataFrame,
    col: str,
    *,
    week: list[date],
    prev: list[date],
    hist: list[date],
    observed: dict[str, set[date]] | None,
    any_observed: set[date],
    labels: Sequence[str] = (),
    missing: str,
) -> list[WeekRow]:
    keys = vio[col].astype(object).where(vio[col].notna(), missing).astype(str)
    all_labels = list(dict.fromkeys([*labels, *sorted(keys.unique())]))
    rows = []
    for label in all_labels:
        d = vio.loc[keys == label, "_day"]
        obs = (
            observed.get(label, set())
            if observed is not None and label != missing
            else any_observed
        )
        hist_obs = [x for x in hist if x in obs]
        rate = float(d.isin(hist_obs).sum()) / len(hist_obs) * WEEK_DAYS if hist_obs else None
        rows.append(
            WeekRow(
                label=label,
                this_week=int(d.isin(week).sum()),
                previous_week=int(d.isin(prev).sum()),
                rate4=rate,
                unobserved_days=0 if label == missing else sum(1 for x in week if x not in obs),
            )
        )
    rows.sort(key=lambda r: (-r.this_week, r.label))
    return rows


def clocks_at(clocks: pd.DataFrame, at: datetime) -> dict[str, pd.DataFrame]:
    """The clocks as they stood at ``at``, from their times (so a report of an earlier
    day shows that day's state): ``open`` (opened, not closed, deadline ahead), ``missed``
    (deadline passed with no action recorded by then, or only later), ``closed`` (closed
    by then)."""
    if clocks.empty:
        return {"open": clocks, "missed": clocks, "closed": clocks}
    t = pd.Timestamp(at)
    opened = pd.to_datetime(clocks["opened_at"], utc=True) <= t
    deadline = pd.to_datetime(clocks["deadline"], utc=True)
    closed_at = pd.to_datetime(clocks["closed_at"], utc=True)
    updated = pd.to_datetime(clocks["updated_at"], utc=True)
    cancelled = (clocks["status"] == "cancelled") & (updated <= t)
    closed = closed_at.notna() & (closed_at <= t)
    live = opened & ~cancelled
    return {
        "open": clocks[live & ~closed & (deadline > t)],
        "missed": clocks[live & (deadline <= t) & (closed_at.isna() | (closed_at > deadline))],
        "closed": clocks[live & closed],
    }


def _clock_rows(clocks: pd.DataFrame, at: datetime) -> list[ClockRow]:
    out = []
    t = pd.Timestamp(at)
    for _, c in clocks.iterrows():
        closed = c.get("closed_at")
        closed_ts = pd.Timestamp(closed) if closed is not None and not pd.isna(closed) else None
        deadline = pd.Timestamp(c["deadline"])
        if closed_ts is not None and closed_ts <= t:
            status = "closed" if closed_ts <= deadline else "closed late"
        elif deadline <= t:
            status = "missed"
        else:
            status = "open"
        out.append(
            ClockRow(
                clock_id=str(c["clock_id"]),
                step=str(c.get("step_name") or c["step_id"]),
                subject=str(c["subject"]).replace(":", " "),
                started_at=pd.Timestamp(c["started_at"]).to_pydatetime(),
                deadline=deadline.to_pydatetime(),
                status=status,
                who=str(c.get("who") or ""),
                hours_left=(deadline - t).total_seconds() / 3600 if status == "open" else None,
                closed_at=(
                    closed_ts.to_pydatetime()
                    if closed_ts is not None and status.startswith("closed")
                    else None
                ),
                closed_by=str(c.get("closed_by") or "") if status.startswith("closed") else "",
                action=str(c.get("action") or "") if status.startswith("closed") else "",
                on_time=None if not status.startswith("closed") else status == "closed",
            )
        )
    return out


def build_weekly_report(
    *,
    last_day: date,
    grid: DayGrid,
    agreement_name: str,
    agreement_version: int,
    violations: pd.DataFrame,
    records: pd.DataFrame,
    alerts: pd.DataFrame,
    clocks: pd.DataFrame,
    generated_at: datetime,
    sectors: Sequence[str] = (),
    effective: datetime | None = None,
) -> WeeklyReport:
    """Compute the weekly report of the seven report days ending on ``last_day``.

    ``violations`` covers at least the five weeks up to the end of ``last_day`` (status
    column included); ``records`` has ``source, sector, day, n_records`` (records received
    per source, sector and report day: the coverage); ``alerts`` and ``clocks`` are the
    store's alert and clock tables; clocks are shown as they stood at ``generated_at`` (at
    the latest, the week's end). Days that began before ``effective`` (the agreement's)
    are left out of the 4-week rate: nothing could violate it then.
    """
    week = [last_day - timedelta(days=i) for i in range(WEEK_DAYS - 1, -1, -1)]
    prev = [d - timedelta(days=WEEK_DAYS) for d in week]
    hist = [week[0] - timedelta(days=i) for i in range(HISTORY_WEEKS * WEEK_DAYS, 0, -1)]
    if effective is not None:
        hist = [d for d in hist if grid.period(d)[0] >= effective]
    start, _ = grid.period(week[0])
    _, end = grid.period(last_day)
    days_all = set(hist) | set(week)

    vio = violations.copy()
    if vio.empty:
        vio = pd.DataFrame(
            columns=[
                schema.VIOLATION_ID,
                schema.OCCURRED_AT,
                schema.SECTOR,
                schema.ZONE,
                schema.CATEGORY,
                schema.SEVERITY,
                schema.STATUS,
            ]
        )
    vio["_day"] = grid.day_of(pd.to_datetime(vio[schema.OCCURRED_AT], utc=True))
    vio = vio[vio["_day"].isin(days_all)]
    status = vio[schema.STATUS].astype(object).fillna("detected")
    n_dismissed = int(((status == "dismissed") & vio["_day"].isin(week)).sum())
    vio = vio[status != "dismissed"]

    rec = records.copy()
    if rec.empty:
        rec = pd.DataFrame(columns=["source", "sector", "day", "n_records"])
    rec["day"] = pd.to_datetime(rec["day"]).dt.date
    rec = rec[rec["day"].isin(days_all) & (pd.to_numeric(rec["n_records"]) > 0)]
    observed: dict[str, set[date]] = {
        str(s): set(g["day"]) for s, g in rec.groupby("sector") if s != NO_SECTOR
    }
    any_observed = set(rec["day"])
    sector_list = list(dict.fromkeys([*sectors, *sorted(observed)]))

    def rows(col: str, labels: Sequence[str], missing: str, by_sector: bool) -> list[WeekRow]:
        return _rows(
            vio,
            col,
            week=week,
            prev=prev,
            hist=hist,
            observed=observed if by_sector else None,
            any_observed=any_observed,
            labels=labels,
            missing=missing,
        )

    total = _rows(
        vio.assign(_all="all"),
        "_all",
        week=week,
        prev=prev,
        hist=hist,
        observed=None,
        any_observed=any_observed,
        missing="all",
    )[0]
    by_sector = rows(schema.SECTOR, sector_list, NO_SECTOR, True)
    by_zone = rows(schema.ZONE, (), NO_ZONE, False)
    by_category = rows(schema.CATEGORY, (), "(no category)", False)
    this = vio[vio["_day"].isin(week)]
    sev = this[schema.SEVERITY].astype(str).value_counts()
    by_severity = tuple(
        sorted(((str(s), int(n)) for s, n in sev.items()), key=lambda x: -_SEV_RANK.get(x[0], -1))
    )
    n_sectors = len(sector_list)
    daily = tuple(
        (
            d,
            int((this["_day"] == d).sum()),
            sum(1 for s in sector_list if d in observed.get(s, set())),
            n_sectors,
        )
        for d in week
    )
    unobserved = tuple((s, d) for s in sector_list for d in week if d not in observed.get(s, set()))

    # sources: records this week and the week before
    src_rows = []
    silent = []
    for source, g in rec.groupby("source"):
        this_n = int(g.loc[g["day"].isin(week), "n_records"].sum())
        prev_n = int(g.loc[g["day"].isin(prev), "n_records"].sum())
        src_rows.append((str(source), this_n, prev_n))
        last3 = week[-3:]
        if int(g.loc[g["day"].isin(last3), "n_records"].sum()) == 0 and int(
            g.loc[g["day"].isin(hist + week[:-3]), "n_records"].sum()
        ):
            silent.append(str(source))

    # alerts raised in the week
    al = alerts.copy()
    if al.empty:
        al = pd.DataFrame(columns=["alert_id", "kind", "level", "title", "raised_at"])
    raised = pd.to_datetime(al["raised_at"], utc=True)
    al = al[(raised > pd.Timestamp(start)) & (raised <= pd.Timestamp(end))]
    counts = al.groupby(["kind", "level"]).size()
    alerts_by_kind = tuple(
        sorted(
            ((str(k), str(lvl), int(n)) for (k, lvl), n in counts.items()),
            key=lambda x: (-_SEV_RANK.get(x[1], -1), x[0]),
        )
    )
    listed = al[al["kind"].isin(list(LISTED_KINDS))].copy()
    listed["_rank"] = listed["level"].map(lambda s: -_SEV_RANK.get(str(s), -1))
    listed = listed.sort_values(["_rank", "raised_at"], kind="stable")
    alert_rows = tuple(
        AlertRow(
            raised_at=pd.Timestamp(r["raised_at"]).to_pydatetime(),
            level=str(r["level"]),
            kind=str(r["kind"]),
            title=str(r["title"]),
        )
        for _, r in listed.head(MAX_ALERTS_LISTED).iterrows()
    )

    # clocks, as they stood when the report was generated (at the latest, the week's end)
    at = min(pd.Timestamp(generated_at), pd.Timestamp(end)).to_pydatetime()
    state = clocks_at(clocks, at)
    closed_at = (
        pd.to_datetime(state["closed"]["closed_at"], utc=True)
        if not state["closed"].empty
        else pd.Series(dtype="datetime64[ns, UTC]")
    )
    closed_week = (
        state["closed"][closed_at > pd.Timestamp(start)] if len(closed_at) else state["closed"]
    )

    iso = week[-1].isocalendar()
    number = f"{iso.year}-W{iso.week:02d}"
    title = f"{agreement_name} (version {agreement_version}): weekly report {number}"
    hist_days = sorted(days_all)
    frame = pd.crosstab(vio["_day"], vio[schema.SECTOR].astype(object).fillna(NO_SECTOR))
    frame = frame.reindex(index=hist_days, fill_value=0)
    report = WeeklyReport(
        number=number,
        title=title,
        first_day=week[0],
        last_day=last_day,
        period_start=start,
        period_end=end,
        timezone=grid.timezone,
        agreement_name=agreement_name,
        agreement_version=int(agreement_version),
        generated_at=generated_at,
        summary=(),
        total=total,
        daily=daily,
        by_sector=tuple(by_sector),
        by_zone=tuple(by_zone),
        by_category=tuple(by_category),
        by_severity=by_severity,
        n_dismissed=n_dismissed,
        alerts_by_kind=alerts_by_kind,
        alerts=alert_rows,
        n_alerts_listed_total=len(listed),
        clocks_at=at,
        clocks_open=tuple(_clock_rows(state["open"], at)),
        clocks_missed=tuple(_clock_rows(state["missed"], at)),
        clocks_closed=tuple(_clock_rows(closed_week, at)),
        unobserved=unobserved,
        sources=tuple(sorted(src_rows)),
        silent_sources=tuple(silent),
        daily_by_sector=frame,
    )
    return _with_summary(report)


def _pct(a: float, b: float) -> str:
    return "" if b == 0 else f" ({(a - b) / b * 100:+.0f}%)"


def _with_summary(r: WeeklyReport) -> WeeklyReport:
    from dataclasses import replace

    t = r.total
    b = [
        f"{t.this_week} violations in the week ({t.previous_week} the week before, change "
        f"{t.change:+d}{_pct(t.this_week, t.previous_week)}"
        + (f"; 4-week rate {t.rate4:.1f} a week" if t.rate4 is not None else "")
        + "). Dismissed violations are excluded"
        + (f" ({r.n_dismissed} this week)." if r.n_dismissed else " (none this week).")
    ]
    top = [s for s in r.by_sector if s.label != NO_SECTOR and s.this_week > 0]
    if top:
        s = top[0]
        rate = f", 4-week rate {s.rate4:.1f}" if s.rate4 is not None else ""
        b.append(f"Most affected sector: {s.label} ({s.this_week} violations{rate}).")
    if r.by_severity:
        b.append(
            "By severity: "
            + ", ".join(f"{s.replace('_', ' ')} {n}" for s, n in r.by_severity)
            + "."
        )
    n_alerts = sum(n for _, _, n in r.alerts_by_kind)
    ea = sum(n for k, _, n in r.alerts_by_kind if k == "expanded_attack")
    spikes = sum(n for k, _, n in r.alerts_by_kind if k == "spike")
    b.append(
        f"{n_alerts} alerts raised: {ea} expanded attack, {spikes} spike"
        + ("s" if spikes != 1 else "")
        + ", the rest violations and clock notices (section 4)."
    )
    b.append(
        f"Response clocks: {len(r.clocks_open)} open, {len(r.clocks_missed)} missed, "
        f"{len(r.clocks_closed)} closed in the week."
    )
    if r.unobserved:
        b.append(
            f"{len(r.unobserved)} sector-days of the week were not observed (no record from "
            "any source): their quiet is not a calm."
        )
    if r.silent_sources:
        b.append(f"Silent over the last three days: {', '.join(r.silent_sources)}.")
    return replace(r, summary=tuple(b))


# --- rendering ---------------------------------------------------------------------------------
def render_chart_png(report: WeeklyReport) -> bytes:
    """Violations per report day by sector over five weeks, the report's week shaded."""
    frame = report.daily_by_sector
    fig = Figure(figsize=(10.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    days = list(frame.index)
    x = np.arange(len(days))
    bottom = np.zeros(len(days))
    colours = ["#1f3b5c", "#c0261a", "#2b8a3e", "#a35f00", "#6f42c1", "#0b7285", "#868e96"]
    for i, col in enumerate(frame.columns):
        vals = frame[col].to_numpy(dtype=float)
        ax.bar(x, vals, bottom=bottom, color=colours[i % len(colours)], width=0.8, label=col)
        bottom += vals
    if days:
        first = days.index(report.first_day) if report.first_day in days else len(days) - 7
        ax.axvspan(first - 0.5, len(days) - 0.5, color="#f2a541", alpha=0.18, zorder=0)
        step = max(1, len(days) // 12)
        ax.set_xticks(x[::step])
        ax.set_xticklabels([d.strftime("%d %b") for d in days[::step]], fontsize=8)
    ax.set_ylabel("violations")
    ax.set_title(
        "Violations per report day by sector, last 5 weeks (report week shaded; dismissed "
        "excluded)",
        fontsize=10,
    )
    if len(frame.columns):
        ax.legend(fontsize=7, ncol=4, loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _fmt_dt(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    if value is None:
        return ""
    return pd.Timestamp(value).tz_convert(UTC).strftime(fmt) + " UTC"


def _fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _fmt_hours(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} h" if value >= 0 else f"overdue {-value:.1f} h"


def _md(value: Any) -> str:
    text = " ".join(str(value).split())
    for ch in ("\\", "|", "<", ">", "[", "]", "`", "*"):
        text = text.replace(ch, "\\" + ch)
    return text


def _environment(*, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ceasewatch", "report/templates"),
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        {
            "dt": _fmt_dt,
            "rate": _fmt_rate,
            "hours": _fmt_hours,
            "md": _md,
            "human": lambda s: str(s).replace("_", " "),
            "signed": lambda n: f"{n:+d}",
        }
    )
    return env


def _context(r: WeeklyReport) -> dict[str, Any]:
    return {
        "r": r,
        "tables": [
            ("Violations by sector", r.by_sector, "sector", True),
            ("Violations by zone", r.by_zone, "zone", False),
            ("Violations by category", r.by_category, "category", False),
        ],
    }


def render_markdown(report: WeeklyReport, *, chart_src: str = "chart.png") -> str:
    env = _environment(html=False)
    return env.get_template("weekly.md.j2").render(**_context(report), chart_src=chart_src)


def render_html(report: WeeklyReport, *, chart_png: bytes) -> str:
    env = _environment(html=True)
    uri = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii")
    return env.get_template("weekly.html.j2").render(**_context(report), chart_src=uri)


def write_weekly_report(
    report: WeeklyReport, out_dir: Path, *, pdf: bool = True
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` (self-contained), ``chart.png`` and, with
    ``pdf``, ``report.pdf`` into ``out_dir``; returns the paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = render_chart_png(report)
    paths = {
        "md": out_dir / "report.md",
        "html": out_dir / "report.html",
        "chart": out_dir / "chart.png",
    }
    paths["chart"].write_bytes(chart)
    paths["md"].write_text(render_markdown(report, chart_src="chart.png"), encoding="utf-8")
    paths["html"].write_text(render_html(report, chart_png=chart), encoding="utf-8")
    if pdf:
        from ceasewatch.report.pdf import weekly_report_pdf

        paths["pdf"] = weekly_report_pdf(report, out_dir / "report.pdf", chart_png=chart)
    return paths


# --- from the store ------------------------------------------------------------------------------
def weekly_report_from_store(
    store: Any, last_day: date, *, generated_at: datetime | None = None
) -> WeeklyReport:
    """Build the weekly report of the week ending on ``last_day`` from the store."""
    from ceasewatch.alerts.watch import records_per_day
    from ceasewatch.evaluate.run import load_agreements
    from ceasewatch.store.alerts import AlertStore

    agreements = load_agreements(store)
    if not agreements:
        from ceasewatch.errors import CeasewatchError

        msg = "no agreement in the store: run `ceasewatch agreement load PATH` first"
        raise CeasewatchError(msg)
    grid_any = next(iter(agreements.values()))
    grid = DayGrid(grid_any.timezone, grid_any.report_cutoff)
    _, end = grid.period(last_day)
    in_force = [a for a in agreements.values() if a.effective <= end] or list(agreements.values())
    agreement = max(in_force, key=lambda a: (a.effective, a.version or 0))
    grid = DayGrid(agreement.timezone, agreement.report_cutoff)
    first = last_day - timedelta(days=WEEK_DAYS * (HISTORY_WEEKS + 1) + 1)
    since, _ = grid.period(first)
    violations = store.violations(since=since, until=end + timedelta(seconds=1))
    records = records_per_day(store, since=since, until=end + timedelta(seconds=1), grid=grid)
    db = AlertStore(store)
    return build_weekly_report(
        last_day=last_day,
        grid=grid,
        agreement_name=agreement.name,
        agreement_version=int(agreement.version or 0),
        violations=violations,
        records=records,
        alerts=db.alerts(),
        clocks=db.clocks(),
        generated_at=generated_at or datetime.now(UTC),
        sectors=[s for s, _ in agreement.sectors],
        effective=min(a.effective for a in agreements.values()),
    )


def write_weekly_report_from_store(
    store: Any,
    last_day: date,
    out_dir: Path,
    *,
    generated_at: datetime | None = None,
    pdf: bool = True,
) -> dict[str, Path]:
    report = weekly_report_from_store(store, last_day, generated_at=generated_at)
    return write_weekly_report(report, out_dir, pdf=pdf)
