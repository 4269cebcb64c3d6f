"""The fire report: war-related fires per week and per oblast, and the map of the last 7 days.

Reads the classified detections (:func:`ceasewatch.store.fires.fire_class_table`); the
oblasts come from an ADM1 GeoJSON given by the caller (e.g. geoBoundaries UKR ADM1, whose
``shapeName`` names each oblast). Writes ``fires.md``, ``weekly.csv``, ``oblasts.csv`` and
``map.png``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from ceasewatch.errors import CeasewatchError
from ceasewatch.store.base import Store
from ceasewatch.store.fires import fire_class_table, load_baseline

_NAME_KEYS = ("shapeName", "name", "NAME_1", "ADM1_EN", "oblast")


@dataclass
class FireReport:
    start: date
    end: date  # last day covered (inclusive)
    weekly: pd.DataFrame  # week (Monday), detections, war_related, share
    oblasts: pd.DataFrame  # oblast, detections, war_related, last_7_days
    last7: pd.DataFrame  # lon, lat, war_related, war_probability of the last 7 days
    line: BaseGeometry | None
    admin: list[tuple[str, BaseGeometry]]
    threshold_note: str
    baseline_until: str


def read_admin(path: Path) -> list[tuple[str, BaseGeometry]]:
    """(name, polygon) of each feature of an admin-area GeoJSON."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        msg = f"cannot read the admin areas {str(path)!r}: {e}"
        raise CeasewatchError(msg) from e
    out = []
    for i, feat in enumerate(doc.get("features", [])):
        props = feat.get("properties") or {}
        name = next((str(props[k]) for k in _NAME_KEYS if props.get(k)), f"area {i + 1}")
        geom = shape(feat["geometry"])
        shapely.prepare(geom)
        out.append((name, geom))
    if not out:
        msg = f"{path}: no features"
        raise CeasewatchError(msg)
    return out


def admin_of(lon: np.ndarray, lat: np.ndarray, admin: list[tuple[str, BaseGeometry]]) -> np.ndarray:
    """Name of the area containing each point ('outside' where none does)."""
    out = np.full(len(lon), "outside", dtype=object)
    for name, geom in admin:
        inside = shapely.contains_xy(geom, lon, lat) & (out == "outside")
        out[inside] = name
    return out


def build_fire_report(
    store: Store,
    *,
    end: date | None = None,
    weeks: int = 12,
    admin_path: Path | None = None,
) -> FireReport:
    """The report over the ``weeks`` weeks ending on ``end`` (default: the last classified
    day)."""
    fc = fire_class_table(store)
    if fc.empty:
        msg = "no classified fires in the store: run `ceasewatch fires classify` first"
        raise CeasewatchError(msg)
    t = pd.to_datetime(fc["occurred_at"], utc=True)
    last = t.max().date() if end is None else end
    start = last - timedelta(days=7 * weeks - 1)
    day = t.dt.date
    sel = (day >= start) & (day <= last)
    fc = fc[sel.to_numpy()].copy()
    t = t[sel]
    week = (
        t.dt.tz_localize(None).dt.normalize() - pd.to_timedelta(t.dt.day_of_week, unit="D")
    ).dt.date
    weekly = (
        pd.DataFrame({"week": week.to_numpy(), "war": fc["war_related"].to_numpy(dtype=bool)})
        .groupby("week")["war"]
        .agg(detections="size", war_related="sum")
        .reset_index()
    )
    weekly["share"] = (weekly["war_related"] / weekly["detections"]).round(3)
    recent = (fc["occurred_at"].dt.date > last - timedelta(days=7)).to_numpy()
    admin: list[tuple[str, BaseGeometry]] = []
    if admin_path is not None:
        admin = read_admin(admin_path)
        names = admin_of(fc["lon"].to_numpy(), fc["lat"].to_numpy(), admin)
        war = fc["war_related"].to_numpy(dtype=bool)
        oblasts = (
            pd.DataFrame({"oblast": names, "war": war, "recent": war & recent})
            .groupby("oblast")
            .agg(
                detections=("war", "size"),
                war_related=("war", "sum"),
                last_7_days=("recent", "sum"),
            )
            .reset_index()
            .sort_values(["war_related", "detections"], ascending=False, ignore_index=True)
        )
    else:
        oblasts = pd.DataFrame(columns=["oblast", "detections", "war_related", "last_7_days"])
    line = None
    if not store.agreements().empty:
        from ceasewatch.evaluate.run import applicable_version, load_agreements

        agreements = load_agreements(store)
        v = applicable_version(pd.Series([pd.Timestamp(last, tz="UTC")]), agreements)[0]
        line = agreements[int(v)].line
    baseline = load_baseline(store)
    p = baseline.params if baseline is not None else None
    note = f"war_related = war_probability ≥ {p.threshold:g}" if p is not None else "war_related"
    return FireReport(
        start=start,
        end=last,
        weekly=weekly,
        oblasts=oblasts,
        last7=fc.loc[recent, ["lon", "lat", "war_related", "war_probability"]].reset_index(
            drop=True
        ),
        line=line,
        admin=admin,
        threshold_note=note,
        baseline_until=str(baseline.until.date()) if baseline is not None else "?",
    )


def render_fire_map(report: FireReport) -> bytes:
    """PNG: the last 7 days' detections, war-related in red, others in grey."""
    fig = Figure(figsize=(9.0, 6.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for _, geom in report.admin:
        for poly in getattr(geom, "geoms", [geom]):
            xy = np.asarray(poly.exterior.coords)
            ax.plot(xy[:, 0], xy[:, 1], color="#bbbbbb", lw=0.5, zorder=1)
    if report.line is not None:
        for part in shapely.get_parts(report.line):
            xy = shapely.get_coordinates(part)
            ax.plot(xy[:, 0], xy[:, 1], color="#222222", lw=1.0, zorder=2)
    pts = report.last7
    other = pts[~pts["war_related"].astype(bool)]
    war = pts[pts["war_related"].astype(bool)]
    ax.scatter(
        other["lon"],
        other["lat"],
        s=4,
        c="#9e9e9e",
        lw=0,
        zorder=3,
        label=f"other fires ({len(other):,})",
    )
    ax.scatter(
        war["lon"],
        war["lat"],
        s=9,
        c="#d7301f",
        lw=0,
        zorder=4,
        label=f"war-related ({len(war):,})",
    )
    if len(pts) or report.admin:
        xs = (
            list(pts["lon"])
            + [g.bounds[0] for _, g in report.admin]
            + [g.bounds[2] for _, g in report.admin]
        )
        ys = (
            list(pts["lat"])
            + [g.bounds[1] for _, g in report.admin]
            + [g.bounds[3] for _, g in report.admin]
        )
        ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
        ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
    mid = float(np.mean(ax.get_ylim()))
    ax.set_aspect(1.0 / max(np.cos(np.radians(mid)), 0.05))
    ax.set_title(
        f"FIRMS fires {report.end - timedelta(days=6):%d %b} – {report.end:%d %b %Y} "
        f"({report.threshold_note})",
        fontsize=10,
    )
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.tick_params(labelsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.3f}"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    return str(v)


def render_fire_markdown(report: FireReport) -> str:
    total = int(report.weekly["detections"].sum()) if len(report.weekly) else 0
    war = int(report.weekly["war_related"].sum()) if len(report.weekly) else 0
    parts = [
        f"# War-related fires, {report.start:%d %b %Y} – {report.end:%d %b %Y}\n",
        f"{war:,} of {total:,} FIRMS detections classified war-related "
        f"({report.threshold_note}; baseline of normal activity until {report.baseline_until}). "
        "A classification is a probability from excess over the normal fire activity of the "
        "place and time of year, not a verdict; see docs/fires.md for its measured precision "
        "and recall. No cloud mask is used: a cloudy week looks calm.\n",
        "## Per week (weeks start on Monday, UTC)\n",
        _md_table(report.weekly),
        "## Per oblast\n",
        _md_table(report.oblasts)
        if report.admin
        else "_no admin areas given (`--admin ADM1.geojson`)_\n",
        "## Last 7 days\n",
        "![map of the last 7 days](map.png)\n",
    ]
    return "\n".join(parts)


def write_fire_report(report: FireReport, out_dir: Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": out / "fires.md",
        "weekly": out / "weekly.csv",
        "oblasts": out / "oblasts.csv",
        "map": out / "map.png",
    }
    paths["md"].write_text(render_fire_markdown(report), encoding="utf-8")
    report.weekly.to_csv(paths["weekly"], index=False)
    report.oblasts.to_csv(paths["oblasts"], index=False)
    paths["map"].write_bytes(render_fire_map(report))
    return paths
