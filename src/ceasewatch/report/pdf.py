"""PDF renderings of the daily and weekly reports, with the open and missed response clocks.

Pure Python: ``fpdf2`` lays out the text and tables, the figures are the reports' own PNG
charts, and the font is the DejaVu Sans that matplotlib ships (so Ukrainian place names
and dashes render; no system library or font package is needed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from ceasewatch.errors import MissingExtraError
from ceasewatch.report.weekly import ClockRow, WeeklyReport, _clock_rows, clocks_at

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
_HEAD_FILL = (233, 238, 245)
_MISSED_FILL = (253, 226, 225)


def _fpdf() -> Any:
    try:
        from fpdf import FPDF
    except ImportError as e:  # pragma: no cover - fpdf2 is a dependency
        msg = "PDF reports need fpdf2: pip install fpdf2"
        raise MissingExtraError(msg) from e
    return FPDF


def _dt(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    if value is None:
        return ""
    return pd.Timestamp(value).tz_convert(UTC).strftime(fmt) + " UTC"


class _Doc:
    """A thin layer over ``FPDF``: headings, paragraphs, bullets, tables, images."""

    def __init__(self, title: str) -> None:
        cls = _fpdf()
        pdf = cls(orientation="P", unit="mm", format="A4")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_font(FONT, "", str(_FONT_DIR / "DejaVuSans.ttf"))
        pdf.add_font(FONT, "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
        pdf.set_title(title)
        pdf.set_author("ceasewatch")
        pdf.set_creator("ceasewatch")
        pdf.alias_nb_pages()
        self.pdf = pdf
        self.title = title
        footer_title = title

        def footer() -> None:
            pdf.set_y(-12)
            pdf.set_font(FONT, "", 7)
            pdf.set_text_color(110, 110, 110)
            pdf.cell(0, 5, f"{footer_title} — page {pdf.page_no()} of {{nb}}", align="C")
            pdf.set_text_color(0, 0, 0)

        pdf.footer = footer
        pdf.add_page()

    def h1(self, text: str) -> None:
        self.pdf.set_font(FONT, "B", 14)
        self.pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def h2(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font(FONT, "B", 11)
        self.pdf.set_text_color(31, 59, 92)
        self.pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0, 0, 0)
        self.pdf.ln(0.5)

    def p(self, text: str, *, size: float = 9, bold: bool = False) -> None:
        self.pdf.set_font(FONT, "B" if bold else "", size)
        self.pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.ln(0.8)

    def bullets(self, items: Sequence[str]) -> None:
        self.pdf.set_font(FONT, "", 9)
        for item in items:
            self.pdf.multi_cell(0, 4.5, f"•  {item}", new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.ln(1)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        widths: Sequence[float] | None = None,
        size: float = 7.5,
        fills: Sequence[tuple[int, int, int] | None] | None = None,
    ) -> None:
        if not rows:
            return
        pdf = self.pdf
        pdf.set_font(FONT, "", size)
        with pdf.table(
            col_widths=tuple(widths) if widths else None,
            line_height=size * 0.5,
            text_align="LEFT",
            headings_style=_headings_style(size),
            padding=0.8,
        ) as table:
            head = table.row()
            for h in header:
                head.cell(str(h))
            for i, r in enumerate(rows):
                fill = fills[i] if fills else None
                row = table.row()
                for v in r:
                    if fill is not None:
                        row.cell("" if v is None else str(v), style=_fill_style(fill))
                    else:
                        row.cell("" if v is None else str(v))
        pdf.ln(1.5)

    def image(self, png: bytes, *, width: float = 180) -> None:
        self.pdf.image(io.BytesIO(png), w=width)
        self.pdf.ln(1)

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pdf.output(str(path))
        return path


def _headings_style(size: float) -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=_HEAD_FILL, size_pt=size)


def _fill_style(fill: tuple[int, int, int]) -> Any:
    from fpdf.fonts import FontFace

    return FontFace(fill_color=fill)


def _clock_tables(doc: _Doc, open_rows: Sequence[ClockRow], missed: Sequence[ClockRow]) -> None:
    doc.h2(f"Response clocks: open ({len(open_rows)})")
    if open_rows:
        doc.table(
            ["clock", "step", "subject", "deadline", "time left", "who must act"],
            [
                [
                    c.clock_id,
                    c.step,
                    c.subject,
                    _dt(c.deadline),
                    ""
                    if c.hours_left is None
                    else (
                        f"{c.hours_left:.1f} h"
                        if c.hours_left >= 0
                        else f"overdue {-c.hours_left:.1f} h"
                    ),
                    c.who,
                ]
                for c in open_rows
            ],
            widths=(22, 34, 38, 32, 20, 34),
        )
    else:
        doc.p("No clock is open.")
    doc.h2(f"Response clocks: missed ({len(missed)})")
    if missed:
        doc.table(
            ["clock", "step", "subject", "deadline", "status", "closed by / action"],
            [
                [
                    c.clock_id,
                    c.step,
                    c.subject,
                    _dt(c.deadline),
                    c.status,
                    f"{c.closed_by}: {c.action}" if c.closed_by else "no action recorded",
                ]
                for c in missed
            ],
            widths=(22, 34, 38, 32, 20, 34),
            fills=[_MISSED_FILL] * len(missed),
        )
    else:
        doc.p("No deadline was missed.")


def weekly_report_pdf(report: WeeklyReport, path: Path, *, chart_png: bytes | None = None) -> Path:
    """Write the weekly report as a PDF at ``path``; returns it."""
    from ceasewatch.report.weekly import render_chart_png

    doc = _Doc(report.title)
    doc.h1(report.title)
    doc.p(
        f"Weekly report {report.number}: report days {report.first_day:%d %B} – "
        f"{report.last_day:%d %B %Y}. Period {_dt(report.period_start)} – "
        f"{_dt(report.period_end)} (report days end at the local cut-off, {report.timezone}). "
        f"Generated {_dt(report.generated_at)}.",
        size=8.5,
    )
    doc.h2("Summary")
    doc.bullets(report.summary)
    _clock_tables(doc, report.clocks_open, report.clocks_missed)
    if report.clocks_closed:
        doc.h2(f"Response clocks closed in the week ({len(report.clocks_closed)})")
        doc.table(
            ["clock", "step", "subject", "deadline", "closed", "by", "on time", "action"],
            [
                [
                    c.clock_id,
                    c.step,
                    c.subject,
                    _dt(c.deadline),
                    _dt(c.closed_at),
                    c.closed_by,
                    "yes" if c.on_time else "no",
                    c.action,
                ]
                for c in report.clocks_closed
            ],
            widths=(18, 24, 26, 24, 24, 18, 12, 34),
        )
    doc.h2("Day by day")
    doc.table(
        ["report day", "violations", "sectors observed"],
        [[f"{d:%a %d %b}", n, f"{obs} of {tot}"] for d, n, obs, tot in report.daily]
        + [["week", report.total.this_week, ""]],
        widths=(40, 30, 40),
    )
    doc.image(chart_png or render_chart_png(report))
    for heading, rows, by_sector in (
        ("Violations by sector", report.by_sector, True),
        ("Violations by zone", report.by_zone, False),
        ("Violations by category", report.by_category, False),
    ):
        doc.h2(heading)
        header = ["", "this week", "previous week", "change", "4-week rate"]
        if by_sector:
            header.append("days not observed")
        doc.table(
            header,
            [
                [
                    r.label,
                    r.this_week,
                    r.previous_week,
                    f"{r.change:+d}",
                    "n/a" if r.rate4 is None else f"{r.rate4:.1f}",
                ]
                + ([r.unobserved_days] if by_sector else [])
                for r in rows
            ],
        )
    doc.h2("Alerts")
    if report.alerts_by_kind:
        doc.table(
            ["kind", "level", "alerts"],
            [
                [k.replace("_", " "), lvl.replace("_", " "), n]
                for k, lvl, n in report.alerts_by_kind
            ],
            widths=(50, 40, 20),
        )
    if report.alerts:
        doc.table(
            ["raised", "level", "alert"],
            [
                [_dt(a.raised_at, "%d %b %H:%M"), a.level.replace("_", " "), a.title]
                for a in report.alerts
            ],
            widths=(28, 22, 130),
            size=7,
        )
    if not report.alerts_by_kind:
        doc.p("No alert was raised in the week.")
    doc.h2("Coverage")
    doc.table(
        ["source", "records this week", "records the week before"],
        [list(s) for s in report.sources],
        widths=(50, 40, 40),
    )
    if report.unobserved:
        doc.p(
            "Sector-days not observed (no record from any source; a zero there means "
            "nothing): " + "; ".join(f"{s} {d:%d %b}" for s, d in report.unobserved) + "."
        )
    return doc.save(path)


def daily_report_pdf(
    report: Any,
    path: Path,
    *,
    clocks: pd.DataFrame | None = None,
    now: datetime | None = None,
    map_png: bytes | None = None,
    chart_png: bytes | None = None,
) -> Path:
    """Write a :class:`~ceasewatch.report.daily.DailyReport` as a PDF at ``path``, with
    the response clocks as they stood at ``now`` (default: when it was generated, at the
    latest the end of its period): open ones and missed ones (``clocks``: the store's clock
    table)."""
    from ceasewatch.report import daily

    doc = _Doc(report.title)
    doc.h1(report.title)
    doc.p(
        f"Daily report {report.number}, {report.day:%d %B %Y}. Period "
        f"{_dt(report.period_start)} – {_dt(report.period_end)} ({report.timezone} cut-off). "
        f"Generated {_dt(report.generated_at)}.",
        size=8.5,
    )
    doc.h2("Summary")
    doc.bullets(report.summary)
    at = now or min(pd.Timestamp(report.generated_at), pd.Timestamp(report.period_end))
    if clocks is not None:
        state = clocks_at(clocks, at)
        _clock_tables(doc, _clock_rows(state["open"], at), _clock_rows(state["missed"], at))
    for heading, rows in (
        ("Violations by zone", report.by_zone),
        ("Violations by sector", report.by_sector),
        ("Violations by category", report.by_category),
    ):
        doc.h2(heading)
        doc.table(
            ["", "today", "previous day", "7-day mean"],
            [
                [
                    r.label,
                    r.today,
                    "n/a" if r.previous is None else r.previous,
                    "n/a" if r.mean7 is None else f"{r.mean7:.1f}",
                ]
                for r in rows
            ]
            + [
                [
                    "Total",
                    report.total.today,
                    "n/a" if report.total.previous is None else report.total.previous,
                    "n/a" if report.total.mean7 is None else f"{report.total.mean7:.1f}",
                ]
            ],
            widths=(70, 30, 30, 30),
        )
    doc.h2("Notable incidents")
    if report.notable:
        doc.p(daily.SIDE_NOTE, size=7.5)
        doc.table(
            ["time", "place", "category", "zone", "severity", "conf.", "sources"],
            [
                [
                    _dt(i.occurred_at, "%d %b %H:%M"),
                    i.place,
                    i.category.replace("_", " "),
                    i.zone,
                    i.severity.replace("_", " "),
                    f"{i.confidence:.2f}",
                    f"{', '.join(i.sources)} ({i.n_sources})",
                ]
                for i in report.notable
            ],
            widths=(24, 36, 26, 24, 20, 12, 38),
            size=7,
        )
    else:
        doc.p("No violations were recorded in the period.")
    doc.h2("Map")
    doc.image(map_png or daily.render_map_png(report), width=170)
    doc.h2("Trend over 30 days")
    doc.image(chart_png or daily.render_chart_png(report))
    doc.h2("Records received per source")
    doc.table(
        ["source", "today", "previous day", "7-day mean", "flag"],
        [[s.source, s.today, s.previous, f"{s.mean7:.1f}", s.flag] for s in report.sources],
        widths=(50, 25, 25, 25, 30),
    )
    return doc.save(path)


def write_daily_pdf_from_store(
    store: Any, day: date, path: Path, *, generated_at: datetime | None = None
) -> Path:
    """The daily report of ``day`` from the store, as a PDF with the response clocks."""
    from ceasewatch.report.run import daily_report_from_store
    from ceasewatch.store.alerts import AlertStore

    report = daily_report_from_store(store, day, generated_at=generated_at)
    clocks = AlertStore(store).clocks()
    return daily_report_pdf(report, path, clocks=clocks)
