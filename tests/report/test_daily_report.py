"""Daily report: counts, comparisons, silent sources, quarantine, self-contained HTML, PNGs."""

from __future__ import annotations

import re
import struct
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from ceasewatch.normalize import schema
from ceasewatch.report.daily import (
    N_RECORDS,
    N_SOURCES,
    RECEIVED_DAY,
    SIDE_NOTE,
    SOURCES,
    DailyReport,
    ReportGeometry,
    build_daily_report,
    render_html,
    render_markdown,
    write_daily_report,
)

DAY = date(2025, 9, 14)
# 19:30 Kyiv (EEST, UTC+3) = 16:30 UTC
PERIOD_END = datetime(2025, 9, 14, 16, 30, tzinfo=UTC)
PERIOD_START = PERIOD_END - timedelta(days=1)
GENERATED_AT = datetime(2025, 9, 14, 17, 5, tzinfo=UTC)
ZONES = ("disengagement", "artillery")
SEVERITIES = schema.SEVERITIES
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- input helpers ----------------------------------------------------------------------------
def make_geometry() -> ReportGeometry:
    line = LineString([(37.5, 47.9), (37.7, 48.2), (37.9, 48.5), (38.0, 48.8)])
    bands = [
        ("disengagement", 15.0, line.buffer(0.15)),
        ("artillery", 50.0, line.buffer(0.5)),
    ]
    west = box(36.5, 47.0, 37.75, 49.5).difference(line.buffer(1e-6))
    east = box(37.75, 47.0, 39.0, 49.5)
    control = [("UA", west), ("RU", east)]
    return ReportGeometry(line=line, bands=bands, control=control)


def make_violations(seed: int = 7) -> pd.DataFrame:
    """Violations over 30 report days, some of them dismissed, a few exactly at the cut-off."""
    rng = np.random.default_rng(seed)
    rows = []
    n = 0
    for back in range(30):
        end = PERIOD_END - timedelta(days=back)
        for _ in range(int(rng.integers(1, 8))):
            n += 1
            offset = timedelta(minutes=int(rng.integers(0, 24 * 60)))
            occurred = end - offset  # in (end - 24h, end]
            rows.append(
                violation_row(
                    n,
                    occurred,
                    zone=ZONES[int(rng.integers(0, 2))] if rng.random() > 0.15 else "outside",
                    sector=("north", "centre", "south")[int(rng.integers(0, 3))],
                    category=("shelling", "drone_strike", "small_arms_fire")[
                        int(rng.integers(0, 3))
                    ],
                    severity=SEVERITIES[int(rng.integers(0, 4))],
                    status="dismissed" if rng.random() < 0.12 else "detected",
                    confidence=float(rng.uniform(0.3, 1.0)),
                    lon=float(rng.uniform(37.4, 38.1)),
                    lat=float(rng.uniform(47.9, 48.8)),
                )
            )
    # on the boundaries: exactly at period_end (today), exactly at period_start (previous day)
    rows.append(violation_row(n + 1, PERIOD_END, zone="disengagement", sector="north"))
    rows.append(violation_row(n + 2, PERIOD_START, zone="disengagement", sector="north"))
    # a dismissed violation in the period that must not be counted anywhere
    rows.append(
        violation_row(
            n + 3,
            PERIOD_END - timedelta(hours=2),
            zone="artillery",
            sector="south",
            status="dismissed",
            location_name="Dismissedville",
        )
    )
    # an incident with two violations (two rules), and a hostile location name
    at = PERIOD_END - timedelta(hours=5)
    for k, rule in enumerate(("zone:disengagement", "everywhere:shelling")):
        rows.append(
            violation_row(
                n + 4 + k,
                at,
                incident_id="INC-multi",
                rule=rule,
                zone="disengagement",
                sector="centre",
                severity="expanded_attack" if k else "breach",
                confidence=0.99,
                location_name="<script>alert(1)</script> | Village",
            )
        )
    return pd.DataFrame(rows)


def violation_row(
    n: int,
    occurred: datetime,
    *,
    zone: str = "disengagement",
    sector: str = "north",
    category: str = "shelling",
    severity: str = "breach",
    status: str = "detected",
    confidence: float = 0.8,
    lon: float = 37.7,
    lat: float = 48.2,
    incident_id: str | None = None,
    rule: str = "zone:disengagement",
    location_name: str | None = None,
) -> dict[str, object]:
    return {
        schema.VIOLATION_ID: f"V{n:04d}",
        schema.INCIDENT_ID: incident_id or f"I{n:04d}",
        schema.RULE: rule,
        schema.ZONE: zone,
        schema.SECTOR: sector,
        schema.SIDE: "UA" if lon < 37.75 else "RU",
        schema.OCCURRED_AT: pd.Timestamp(occurred),
        schema.LON: lon,
        schema.LAT: lat,
        schema.CATEGORY: category,
        schema.WEAPON_CLASS: "artillery_100mm_plus" if category == "shelling" else None,
        schema.SEVERITY: severity,
        schema.CONFIDENCE: confidence,
        N_SOURCES: 2,
        SOURCES: "acled;field_report",
        schema.STATUS: status,
        schema.AGREEMENT_VERSION: 1,
        schema.DISTANCE_TO_LINE_KM: 3.25,
        schema.EVIDENCE_EVENT_IDS: f"E{n}a;E{n}b",
        schema.FATALITIES: None,
        schema.LOCATION_NAME: location_name,
    }


def make_received(*, silent: str | None = "viina") -> pd.DataFrame:
    rows = []
    for back in range(30):
        d = DAY - timedelta(days=back)
        rows.append({schema.SOURCE: "acled", RECEIVED_DAY: d, N_RECORDS: 40 + back})
        rows.append({schema.SOURCE: "field_report", RECEIVED_DAY: d, N_RECORDS: 12})
        if silent:
            rows.append({schema.SOURCE: silent, RECEIVED_DAY: d, N_RECORDS: 0 if back == 0 else 9})
    return pd.DataFrame(rows)


def make_quarantine(n: int = 25) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.BATCH_ID: ["b1"] * n,
            schema.SOURCE: ["acled"] * (n - 3) + ["viina"] * 3,
            "file_name": ["acled.csv"] * (n - 3) + ["viina.csv"] * 3,
            schema.LINE_NO: list(range(2, n + 2)),
            "reason": ["missing latitude"] * n,
        }
    )


def build(
    violations: pd.DataFrame | None = None,
    received: pd.DataFrame | None = None,
    quarantine: pd.DataFrame | None = None,
) -> DailyReport:
    return build_daily_report(
        day=DAY,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        agreement_name="Cessation of hostilities",
        agreement_version=3,
        violations=make_violations() if violations is None else violations,
        received=make_received() if received is None else received,
        quarantine=make_quarantine() if quarantine is None else quarantine,
        geometry=make_geometry(),
        generated_at=GENERATED_AT,
        as_of=datetime(2025, 9, 14, 16, 45, tzinfo=UTC),
    )


# --- independent expectations ---------------------------------------------------------------
def in_period(v: pd.DataFrame) -> pd.Series:
    t = pd.to_datetime(v[schema.OCCURRED_AT], utc=True)
    return (t > pd.Timestamp(PERIOD_START)) & (t <= pd.Timestamp(PERIOD_END))


def counted_today(v: pd.DataFrame) -> pd.DataFrame:
    return v[in_period(v) & (v[schema.STATUS] != "dismissed")]


def count_on(v: pd.DataFrame, back: int) -> pd.DataFrame:
    t = pd.to_datetime(v[schema.OCCURRED_AT], utc=True)
    end = pd.Timestamp(PERIOD_END) - pd.Timedelta(days=back)
    sel = (t > end - pd.Timedelta(days=1)) & (t <= end) & (v[schema.STATUS] != "dismissed")
    return v[sel]


# --- parsing helpers ----------------------------------------------------------------------------
def md_table(md: str, heading: str) -> dict[str, list[str]]:
    """Rows of the first Markdown table after ``heading``: first cell -> other cells."""
    section = md.split(heading, 1)[1]
    rows: dict[str, list[str]] = {}
    started = False
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
            if started and not set(cells[1]) <= set("-:"):
                rows[cells[0]] = cells[1:]
            started = True  # the first row is the header
        elif started:
            break
    return rows


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.srcs: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.srcs.append(a[key] or "")
        if tag == "table":
            self._table = a.get("id") or f"t{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC
    assert head[12:16] == b"IHDR"
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def violations() -> pd.DataFrame:
    return make_violations()


@pytest.fixture(scope="module")
def report(violations: pd.DataFrame) -> DailyReport:
    return build(violations)


@pytest.fixture(scope="module")
def written(report: DailyReport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_daily_report(report, tmp_path_factory.mktemp("daily"))


# --- tests --------------------------------------------------------------------------------------
def test_totals_match_independent_count(report: DailyReport, violations: pd.DataFrame) -> None:
    today = counted_today(violations)
    assert report.total.today == len(today)
    assert report.total.previous == len(count_on(violations, 1))
    mean7 = np.mean([len(count_on(violations, b)) for b in range(1, 8)])
    assert report.total.mean7 == pytest.approx(mean7)
    assert report.n_dismissed == int(
        (in_period(violations) & (violations[schema.STATUS] == "dismissed")).sum()
    )
    assert report.n_breach_or_worse == int(
        today[schema.SEVERITY].isin(["breach", "expanded_attack"]).sum()
    )


def test_markdown_tables_match_pandas(written: dict[str, Path], violations: pd.DataFrame) -> None:
    md = written["md"].read_text(encoding="utf-8")
    today = counted_today(violations)
    prev = count_on(violations, 1)
    for heading, col in (
        ("Violations by zone", schema.ZONE),
        ("Violations by sector", schema.SECTOR),
        ("Violations by category", schema.CATEGORY),
    ):
        table = md_table(md, heading)
        expected = today[col].value_counts()
        expected_prev = prev[col].value_counts()
        for key, n in expected.items():
            assert table[str(key)][0] == str(n), (heading, key)
            assert table[str(key)][1] == str(expected_prev.get(key, 0)), (heading, key)
        assert table["Total"][0] == str(len(today))
        listed = {k: int(v[0]) for k, v in table.items() if k != "Total"}
        assert sum(listed.values()) == len(today)
    # bands narrowest first, "outside" after them
    zones = list(md_table(md, "Violations by zone"))
    assert zones[:2] == list(ZONES)
    assert "Dismissedville" not in md


def test_html_tables_match_pandas(written: dict[str, Path], violations: pd.DataFrame) -> None:
    html = written["html"].read_text(encoding="utf-8")
    parsed = html_tables(html)
    zone_rows = {row[0]: row[1:] for row in parsed.tables["table-by-zone"][1:]}
    expected = counted_today(violations)[schema.ZONE].value_counts()
    for zone, n in expected.items():
        assert zone_rows[str(zone)][0] == str(n)
    assert zone_rows["Total"][0] == str(len(counted_today(violations)))
    assert "Dismissedville" not in html


def test_dismissed_excluded_and_said(report: DailyReport, written: dict[str, Path]) -> None:
    v = pd.DataFrame(
        [
            violation_row(1, PERIOD_END - timedelta(hours=1), status="dismissed"),
            violation_row(2, PERIOD_END - timedelta(hours=2), status="confirmed"),
            violation_row(3, PERIOD_END - timedelta(hours=3), status="under_review"),
        ]
    )
    r = build(v)
    assert r.total.today == 2
    assert r.n_dismissed == 1
    # equal severity and confidence: earlier first
    assert [i.violation_ids for i in r.notable] == [("V0003",), ("V0002",)]
    md = render_markdown(r)
    assert "1 dismissed violation excluded from all counts" in md
    assert "Dismissed violations are excluded from all counts" in md
    assert "dismissed" in written["html"].read_text(encoding="utf-8").lower()


def test_silent_source_flagged(report: DailyReport, written: dict[str, Path]) -> None:
    assert report.silent_sources == ("viina",)
    viina = next(s for s in report.sources if s.source == "viina")
    assert viina.silent and viina.today == 0 and viina.previous == 9
    acled = next(s for s in report.sources if s.source == "acled")
    assert not acled.silent and acled.today == 40 and acled.previous == 41
    md = written["md"].read_text(encoding="utf-8")
    table = md_table(md, "Records received per source")
    assert table["viina"][-1] == "SILENT"
    assert table["acled"][-1] == ""
    assert table["acled"][2] == f"{np.mean([41, 42, 43, 44, 45, 46, 47]):.1f}"
    html = written["html"].read_text(encoding="utf-8")
    rows = {r[0]: r for r in html_tables(html).tables["table-sources"][1:]}
    assert rows["viina"][-1] == "SILENT"
    assert '<tr class="silent"><td>viina</td>' in html


def test_notable_incidents(report: DailyReport, written: dict[str, Path]) -> None:
    notable = report.notable
    assert 0 < len(notable) <= 15
    ranks = [(SEVERITIES.index(i.severity), i.confidence) for i in notable]
    assert ranks == sorted(ranks, reverse=True)
    top = notable[0]
    assert top.incident_id == "INC-multi"  # merged, worst severity, highest confidence
    assert top.severity == "expanded_attack"
    assert set(top.rules) == {"zone:disengagement", "everywhere:shelling"}
    assert top.sources == ("acled", "field_report")
    html = written["html"].read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | Village" in html
    md = written["md"].read_text(encoding="utf-8")
    assert "\\<script\\>alert(1)\\</script\\> \\| Village" in md
    assert SIDE_NOTE in md and SIDE_NOTE in html
    # a place without a name is given as coordinates to 4 decimals
    assert re.search(r"\d+\.\d{4}°N \d+\.\d{4}°E", md)


def test_quarantine_section(report: DailyReport, written: dict[str, Path]) -> None:
    assert report.n_quarantined == 25
    assert dict(report.quarantine_by_source) == {"acled": 22, "viina": 3}
    assert len(report.quarantine_rows) == 20
    assert report.quarantine_rows[0].line_no == 2
    md = written["md"].read_text(encoding="utf-8")
    assert md_table(md, "Quarantined records")["acled"] == ["22"]
    html = written["html"].read_text(encoding="utf-8")
    assert len(html_tables(html).tables["table-quarantine"]) == 1 + 20


def test_html_self_contained(written: dict[str, Path]) -> None:
    html = written["html"].read_text(encoding="utf-8")
    parsed = html_tables(html)
    assert len(parsed.srcs) == 2
    assert all(s.startswith("data:image/png;base64,") for s in parsed.srcs)
    assert html.count("data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "<script" not in html


def test_pngs_valid(written: dict[str, Path]) -> None:
    assert set(written) == {"html", "md", "map", "chart"}
    for key in ("map", "chart"):
        w, h = png_size(written[key])
        assert w > 300 and h > 200
    md = written["md"].read_text(encoding="utf-8")
    assert f"]({written['map'].name})" in md
    assert f"]({written['chart'].name})" in md


def test_header(written: dict[str, Path]) -> None:
    md = written["md"].read_text(encoding="utf-8")
    assert "Cessation of hostilities (version 3): daily report 257/2025" in md
    assert "13 Sep 2025 19:30 – 14 Sep 2025 19:30 Europe/Kyiv (UTC+03:00)" in md
    assert "13 Sep 2025 16:30 – 14 Sep 2025 16:30 UTC" in md
    assert "Generated:** 14 Sep 2025 17:05 UTC" in md
    assert "Data as of:** 14 Sep 2025 16:45 UTC" in md


def test_chart_series(report: DailyReport, violations: pd.DataFrame) -> None:
    daily = report.daily_by_zone
    assert len(daily) == 30 and daily.index[-1] == DAY
    for back in (0, 1, 5, 29):
        expected = count_on(violations, back)[schema.ZONE].value_counts()
        got = daily.loc[DAY - timedelta(days=back)]
        assert {k: int(v) for k, v in got.items() if v} == {
            str(k): int(v) for k, v in expected.items()
        }


def test_quiet_day(tmp_path: Path) -> None:
    empty = pd.DataFrame()
    r = build(empty, make_received(silent=None), empty)
    assert r.is_quiet and r.total.today == 0 and r.notable == ()
    assert r.total.previous == 0 and r.total.mean7 == 0.0
    assert r.records_today == 52
    paths = write_daily_report(r, tmp_path)
    md = paths["md"].read_text(encoding="utf-8")
    assert "No violations were recorded in the period (a quiet day)" in md
    assert "52 records were received from 2 of 2 sources" in md
    assert md_table(md, "Violations by zone")["disengagement"][0] == "0"
    html = paths["html"].read_text(encoding="utf-8")
    assert "No violations were recorded in the period" in html
    for key in ("map", "chart"):
        png_size(paths[key])


def test_no_data_at_all(tmp_path: Path) -> None:
    r = build(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert r.total.today == 0 and r.total.previous is None and r.total.mean7 is None
    md = render_markdown(r)
    assert "absence of data, not a quiet day" in md
    html = render_html(r, map_png=PNG_MAGIC, chart_png=PNG_MAGIC)
    assert "No records were received from any source" in html


def test_report_days_follow_local_cutoff_across_dst() -> None:
    """Kyiv leaves summer time on 26 Oct 2025: that report day is 25 h long."""
    day = date(2025, 10, 27)
    end = datetime(2025, 10, 27, 17, 30, tzinfo=UTC)  # 19:30 EET
    at = [
        datetime(2025, 10, 27, 17, 30, tzinfo=UTC),  # 27 Oct, exactly at the cut-off
        datetime(2025, 10, 26, 17, 31, tzinfo=UTC),  # 27 Oct
        datetime(2025, 10, 26, 17, 30, tzinfo=UTC),  # 26 Oct (its cut-off)
        datetime(2025, 10, 25, 16, 45, tzinfo=UTC),  # 26 Oct: 19:45 EEST on the 25th
        datetime(2025, 10, 25, 16, 30, tzinfo=UTC),  # 25 Oct (its cut-off, 19:30 EEST)
    ]
    v = pd.DataFrame([violation_row(k, t) for k, t in enumerate(at)])
    r = build_daily_report(
        day=day,
        period_start=end - timedelta(days=1),
        period_end=end,
        agreement_name="A",
        agreement_version=1,
        violations=v,
        received=pd.DataFrame(),
        quarantine=pd.DataFrame(),
        geometry=make_geometry(),
        generated_at=end,
    )
    daily = r.daily_by_zone.sum(axis=1)
    assert daily[day] == 2
    assert daily[date(2025, 10, 26)] == 2
    assert daily[date(2025, 10, 25)] == 1
    assert r.total.today == 2 and r.total.previous == 2


def test_naive_period_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_daily_report(
            day=DAY,
            period_start=PERIOD_START.replace(tzinfo=None),
            period_end=PERIOD_END,
            agreement_name="A",
            agreement_version=1,
            violations=pd.DataFrame(),
            received=pd.DataFrame(),
            quarantine=pd.DataFrame(),
            geometry=make_geometry(),
            generated_at=GENERATED_AT,
        )


def test_missing_columns_rejected() -> None:
    v = make_violations().drop(columns=[schema.SEVERITY])
    with pytest.raises(ValueError, match="severity"):
        build(v)
