"""Figures of the daily report: the situation map and the 30-day chart.

Pure plotting over plain inputs (shapely geometry, small frames); each function returns the
PNG bytes, so the caller decides where they go (a file, a base64 data URI). Matplotlib runs
with the non-interactive Agg canvas and never touches pyplot's global state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ceasewatch.normalize import schema

#: one colour per severity, light to dark (ordered like ``schema.SEVERITIES``)
SEVERITY_COLOURS: dict[str, str] = {
    "notice": "#4c9be8",
    "warning": "#f2a541",
    "breach": "#d7301f",
    "expanded_attack": "#5c0a2e",
}
SEVERITY_SIZES: dict[str, float] = {
    "notice": 22.0,
    "warning": 30.0,
    "breach": 42.0,
    "expanded_attack": 56.0,
}
_UNKNOWN_SEVERITY_COLOUR = "#888888"

#: light fills for the areas each party controls (assigned in sorted party order)
PARTY_COLOURS: tuple[str, ...] = ("#7fb3d5", "#f5b7b1", "#a9dfbf", "#f9e79f", "#d2b4de", "#d5dbdb")

#: zone colours of the stacked chart (assigned in the given zone order)
ZONE_COLOURS: tuple[str, ...] = (
    "#b2182b",
    "#ef8a62",
    "#f4c26b",
    "#67a9cf",
    "#2166ac",
    "#8c6bb1",
    "#66c2a5",
    "#a6761d",
)
_OUTSIDE_COLOUR = "#bdbdbd"

_KM_PER_DEG_LAT = 111.32
_DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):  # GeometryCollection
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _lines(geom: BaseGeometry) -> list[LineString]:
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    if isinstance(geom, Polygon):
        return [LineString(geom.exterior.coords)] + [LineString(r.coords) for r in geom.interiors]
    if hasattr(geom, "geoms"):
        return [ls for g in geom.geoms for ls in _lines(g)]
    return []


def _fill(ax: Axes, geom: BaseGeometry, **kwargs: object) -> None:
    """Fill polygons (holes left open) via a compound path."""
    for poly in _polygons(geom):
        if poly.is_empty:
            continue
        verts: list[tuple[float, float]] = []
        codes: list[np.uint8] = []
        for ring in [poly.exterior, *poly.interiors]:
            coords = list(ring.coords)
            verts.extend((float(x), float(y)) for x, y, *_ in coords)
            codes.extend(
                [MplPath.MOVETO] + [MplPath.LINETO] * (len(coords) - 2) + [MplPath.CLOSEPOLY]
            )
        ax.add_patch(PathPatch(MplPath(verts, codes), **kwargs))


def _nice_km(target: float) -> float:
    """A round length (1, 2, 5 x 10^n km) not above ``target``."""
    if target <= 0:
        return 1.0
    exp = math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def _extent(
    line: BaseGeometry, points: pd.DataFrame, box_aspect: float, min_half_deg: float = 0.15
) -> tuple[float, float, float, float]:
    """lon/lat limits around the line and points, padded, filling a box of the given aspect.

    ``box_aspect`` is the height/width of the axes box; the limits are widened in one
    direction so that, drawn at 1/cos(mid latitude), they fill the box exactly.
    """
    xs: list[float] = []
    ys: list[float] = []
    if not line.is_empty:
        x0, y0, x1, y1 = line.bounds
        xs += [x0, x1]
        ys += [y0, y1]
    if len(points):
        xs += [float(points[schema.LON].min()), float(points[schema.LON].max())]
        ys += [float(points[schema.LAT].min()), float(points[schema.LAT].max())]
    if not xs:
        return (-1.0, 1.0, -1.0, 1.0)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    mid_lat = (y0 + y1) / 2
    kx = max(math.cos(math.radians(mid_lat)), 0.05)
    # pad by 12 % of the larger span (in distance terms), at least ``min_half_deg``
    span = max((x1 - x0) * kx, y1 - y0, 2 * min_half_deg)
    pad = 0.12 * span
    half_y = max((y1 - y0) / 2 + pad, min_half_deg)
    half_x = max((x1 - x0) / 2 + pad / kx, min_half_deg / kx)
    if half_y / (half_x * kx) > box_aspect:
        half_x = half_y / box_aspect / kx
    else:
        half_y = half_x * kx * box_aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half_x, cx + half_x, cy - half_y, cy + half_y)


def render_map(
    *,
    line: BaseGeometry,
    bands: Sequence[tuple[str, float, BaseGeometry]],
    control: Sequence[tuple[str, BaseGeometry]],
    points: pd.DataFrame,
    title: str,
    empty_note: str = "No violations in the period",
) -> bytes:
    """The situation map as PNG bytes.

    ``points`` has columns ``lon``, ``lat`` and ``severity`` (one row per point to plot).
    Control areas are lightly shaded per party, zone bands drawn as dashed outlines, the
    line of contact bold, points coloured by severity. Axes are lon/lat with an aspect of
    1/cos(mean latitude), so a kilometre is as long east-west as north-south.
    """
    fig_w, fig_h = 10.0, 7.0
    left, bottom, width, height = 0.08, 0.1, 0.66, 0.83
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((left, bottom, width, height))
    x0, x1, y0, y1 = _extent(line, points, box_aspect=(height * fig_h) / (width * fig_w))
    mid_lat = (y0 + y1) / 2
    kx = max(math.cos(math.radians(mid_lat)), 0.05)

    handles: list[Patch | Line2D] = []
    for i, (party, geom) in enumerate(sorted(control, key=lambda pc: str(pc[0]))):
        colour = PARTY_COLOURS[i % len(PARTY_COLOURS)]
        _fill(ax, geom, facecolor=colour, edgecolor="none", alpha=0.35, zorder=1)
        handles.append(Patch(facecolor=colour, alpha=0.5, label=f"controlled by {party}"))

    n_bands = len(bands)
    for i, (zone_id, width_km, geom) in enumerate(bands):
        grey = 0.35 + 0.4 * (i / max(n_bands - 1, 1))
        for ls in _lines(geom):
            xs, ys = ls.xy
            ax.plot(xs, ys, color=str(grey), lw=0.9, ls=(0, (5, 3)), zorder=2)
        handles.append(
            Line2D(
                [],
                [],
                color=str(grey),
                lw=0.9,
                ls=(0, (5, 3)),
                label=f"{zone_id} ({width_km:g} km)",
            )
        )

    for ls in _lines(line):
        xs, ys = ls.xy
        ax.plot(xs, ys, color="black", lw=2.6, solid_capstyle="round", zorder=4)
    handles.append(Line2D([], [], color="black", lw=2.6, label="line of contact"))

    if len(points):
        sev = points[schema.SEVERITY].astype("string").fillna("unknown")
        order = {s: i for i, s in enumerate(schema.SEVERITIES)}
        for level in sorted(sev.unique(), key=lambda s: order.get(s, -1)):
            sel = points[(sev == level).to_numpy()]
            colour = SEVERITY_COLOURS.get(level, _UNKNOWN_SEVERITY_COLOUR)
            ax.scatter(
                sel[schema.LON],
                sel[schema.LAT],
                s=SEVERITY_SIZES.get(level, 22.0),
                c=colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=5 + order.get(level, 0),
                label=f"{level.replace('_', ' ')} ({len(sel)})",
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    ls="none",
                    markerfacecolor=colour,
                    markeredgecolor="white",
                    markersize=math.sqrt(SEVERITY_SIZES.get(level, 22.0)),
                    label=f"{level.replace('_', ' ')} ({len(sel)})",
                )
            )
    else:
        ax.text(
            0.5,
            0.96,
            empty_note,
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
            zorder=10,
        )

    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / kx)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, color="0.85", lw=0.5, zorder=0)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=11)

    # scale bar, bottom left, about a fifth of the map width
    width_km = (x1 - x0) * kx * _KM_PER_DEG_LAT
    bar_km = _nice_km(width_km / 5)
    bar_deg = bar_km / (_KM_PER_DEG_LAT * kx)
    bx = x0 + 0.04 * (x1 - x0)
    by = y0 + 0.05 * (y1 - y0)
    ax.plot([bx, bx + bar_deg], [by, by], color="black", lw=3, zorder=9, solid_capstyle="butt")
    ax.text(
        bx + bar_deg / 2,
        by + 0.015 * (y1 - y0),
        f"{bar_km:g} km",
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=9,
    )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize=8,
        frameon=False,
    )
    fig.text(
        0.01,
        0.01,
        f"WGS84 lon/lat; aspect 1/cos({mid_lat:.1f}°) so distances are true in both "
        f"directions; 1° lat ≈ 111 km, 1° lon ≈ {_KM_PER_DEG_LAT * kx:.0f} km here.",
        fontsize=7,
        color="0.3",
    )
    return _png(fig)


def render_chart(
    *,
    daily: pd.DataFrame,
    zones: Iterable[str],
    report_day: date,
    title: str,
    no_data_days: Iterable[date] = (),
) -> bytes:
    """Daily violations stacked by zone, as PNG bytes.

    ``daily`` is indexed by report day (python dates, oldest first) with one column per
    zone holding counts; ``zones`` gives the stacking order (bottom first). The report day
    is highlighted with a shaded band and a bold tick label; ``no_data_days`` (days on which
    no record was received, so a zero there means nothing) are hatched grey.
    """
    fig = Figure(figsize=(10.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    days = list(daily.index)
    x = np.arange(len(days))
    bottom = np.zeros(len(days))
    zone_list = [z for z in zones if z in daily.columns]
    i_colour = 0
    for z in zone_list:
        vals = daily[z].to_numpy(dtype=float)
        if z == schema.ZONE_OUTSIDE:
            colour = _OUTSIDE_COLOUR
        else:
            colour = ZONE_COLOURS[i_colour % len(ZONE_COLOURS)]
            i_colour += 1
        ax.bar(x, vals, bottom=bottom, color=colour, width=0.8, label=z, zorder=3)
        bottom += vals

    total_max = float(bottom.max()) if len(bottom) else 0.0
    gaps = set(no_data_days)
    for j, d in enumerate(days):
        if d in gaps:
            ax.axvspan(j - 0.5, j + 0.5, facecolor="none", edgecolor="0.75", hatch="///", lw=0)
    if report_day in days:
        i = days.index(report_day)
        ax.axvspan(i - 0.5, i + 0.5, color="#fff3b0", zorder=1)
        ax.annotate(
            f"{int(bottom[i])}",
            (i, bottom[i]),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )
    ax.set_ylim(0, max(total_max * 1.15, 1.0))
    ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    step = max(1, len(days) // 10)
    ticks = [j for j in range(len(days)) if (len(days) - 1 - j) % step == 0]
    ax.set_xticks(ticks)
    labels = [days[j].strftime("%d %b") for j in ticks]
    ax.set_xticklabels(labels, fontsize=8)
    for j, lab in zip(ticks, ax.get_xticklabels(), strict=True):
        if days[j] == report_day:
            lab.set_fontweight("bold")
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.set_ylabel("violations per day")
    ax.grid(True, axis="y", color="0.88", lw=0.6, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=11)
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = handles[::-1], labels[::-1]  # top of the stack first
    if any(d in gaps for d in days):
        handles.append(Patch(facecolor="white", edgecolor="0.6", hatch="///"))
        labels.append("no records received")
    if handles and (total_max > 0 or gaps):
        ax.legend(
            handles,
            labels,
            title="zone",
            fontsize=8,
            title_fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    if total_max == 0:
        ax.text(
            0.5,
            0.5,
            "No violations in the last 30 days",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    fig.tight_layout()
    return _png(fig)
