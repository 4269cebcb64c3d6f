"""Zone geometry built once per agreement version, in a metric CRS.

The line of contact is cut into straight segments indexed by an STR-tree in a conformal
metric CRS fitted to the area; distances are then exact point-to-segment distances in that
CRS. Control areas, the boundary and sectors stay in WGS84 for point-in-polygon tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from ceasewatch.agreement.model import Agreement
from ceasewatch.normalize.crs import metric_crs, to_metric, to_wgs84


def line_segments(line: BaseGeometry) -> npt.NDArray[np.float64]:
    """All straight segments of a (Multi)LineString as an ``(n, 4)`` array x0 y0 x1 y1."""
    parts = shapely.get_parts(line)
    segs = []
    for part in parts:
        xy = shapely.get_coordinates(part)
        if len(xy) >= 2:
            segs.append(np.hstack([xy[:-1], xy[1:]]))
    if not segs:
        return np.empty((0, 4))
    return np.vstack(segs)


@dataclass(frozen=True)
class ZoneModel:
    """An agreement's geometry prepared for fast, vectorized evaluation."""

    agreement: Agreement

    @cached_property
    def crs(self) -> CRS:
        margin = max((z.width_km for z in self.agreement.zones), default=100.0) / 80.0 + 1.0
        b = self.agreement.line.bounds
        return metric_crs(b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin)

    @cached_property
    def line_m(self) -> BaseGeometry:
        """The line of contact in the metric CRS."""
        return shapely.transform(
            self.agreement.line, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1], self.crs))
        )

    @cached_property
    def segments_m(self) -> npt.NDArray[np.float64]:
        return line_segments(self.line_m)

    @cached_property
    def segment_tree(self) -> shapely.STRtree:
        s = self.segments_m
        return shapely.STRtree(shapely.linestrings(np.stack([s[:, :2], s[:, 2:]], axis=1)))

    @cached_property
    def widths_km(self) -> npt.NDArray[np.float64]:
        return np.array([z.width_km for z in self.agreement.zones], dtype=float)

    @cached_property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(z.id for z in self.agreement.zones)

    def prepared(self) -> None:
        """Prepare polygons for repeated containment tests."""
        for _, g in self.agreement.control:
            shapely.prepare(g)
        for _, g in self.agreement.sectors:
            shapely.prepare(g)
        if self.agreement.boundary is not None:
            shapely.prepare(self.agreement.boundary)

    def band_polygons(self, *, resolution: int = 8) -> list[tuple[str, float, BaseGeometry]]:
        """Each band as a WGS84 polygon (line buffered by its width, clipped to the boundary)."""
        out = []
        for z in self.agreement.zones:
            poly_m = shapely.buffer(self.line_m, z.width_km * 1_000.0, quad_segs=resolution)
            poly = shapely.transform(
                poly_m, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], self.crs))
            )
            if self.agreement.boundary is not None:
                poly = shapely.intersection(poly, self.agreement.boundary)
            out.append((z.id, z.width_km, poly))
        return out
