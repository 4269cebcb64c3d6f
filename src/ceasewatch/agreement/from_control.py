"""Build an agreement from a map of territorial control.

A ceasefire freezes the front where it is. Given a snapshot of who controls what (a
DeepStateMap layer) and the outline of the country, this module derives the line of
contact, the two control areas, and writes a complete agreement folder in the format of
``docs/agreement-format.md``.

The line of contact is the part of the controlled area's boundary that lies inside the
country and borders the *main body* of the rest of the country. Everything else on that
boundary is dropped: the international border, the coast, and the edges of slivers that
appear wherever two independently drawn coastlines or borders do not match.

All buffering and tolerance work is done in a Lambert conformal conic projection fitted
to the country; results are returned in WGS84 lon/lat.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
import yaml
from pyproj import CRS, Geod, Transformer
from shapely.geometry import (
    LineString,
    MultiLineString,
    MultiPolygon,
    Polygon,
    mapping,
    shape,
)
from shapely.geometry.base import BaseGeometry

from ceasewatch.errors import AgreementError

__all__ = [
    "PROHIBITED_EVERYWHERE",
    "ZONE_PRESETS",
    "agreement_from_control",
    "classify_label",
    "control_polygons",
    "line_from_control",
    "line_length_km",
    "read_boundary",
    "read_control_layer",
]

#: Zone id and prohibited items for the band widths of the Minsk agreements (km).
ZONE_PRESETS: dict[float, tuple[str, tuple[str, ...]]] = {
    15.0: ("disengagement", ("any_military_activity",)),
    50.0: ("artillery", ("artillery_100mm_plus",)),
    70.0: ("mlrs", ("mlrs",)),
    140.0: ("heavy_mlrs", ("heavy_mlrs", "tactical_missiles")),
}

#: Categories prohibited everywhere in a generated agreement.
PROHIBITED_EVERYWHERE: tuple[str, ...] = (
    "shelling",
    "air_strike",
    "missile_strike",
    "drone_strike",
    "armed_clash",
)

_WGS84 = CRS.from_epsg(4326)
_DENSIFY_DEG = 0.01  # longest lon/lat edge before projecting (about 1 km)
_GEOD = Geod(ellps="WGS84")

# ---------------------------------------------------------------------------------------
# Classification of DeepStateMap labels
# ---------------------------------------------------------------------------------------

#: ``geoJSON.<key>`` keys that mark territory of Ukraine under Russian control.
OCCUPIED_KEYS: frozenset[str] = frozenset(
    {"status.occupied", "territories.crimea", "territories.ordlo", "territories.tuzla"}
)

# Layers about other countries (jokes, "historical" claims, the 2023 Wagner mutiny).
_FOREIGN_MARKERS: tuple[str, ...] = (
    "transnistr",
    "придністров",
    "abkhaz",
    "абхаз",
    "tskhinval",
    "цхінвал",
    "kuril",
    "курил",
    "karelia",
    "карел",
    "prussia",
    "прусі",
    "пруссі",
    "estonia",
    "естон",
    "latvia",
    "латві",
    "petsamo",
    "петсамо",
    "salla",
    "салла",
    "ichkeri",
    "ічкері",
    "pechor",
    "печор",
    "wagner",
    "вагнер",
)
# Liberated, contested, unknown or "no information" areas.
_NOT_OCCUPIED_MARKERS: tuple[str, ...] = (
    "звільн",
    "liberat",
    "taken back",
    "recaptur",
    "відбит",
    "відкинуто",
    "pushed back",
    "під питанням",
    "contest",
    "contens",
    "contenes",
    "in doubt",
    "under question",
    "невідом",
    "unknown",
    "сіра зона",
    "gray area",
    "grey area",
    "під контролем зсу",
    "відсутн",
    "немає інфо",
    "уточнення",
    "відхід",
)
_OCCUPIED_MARKERS: tuple[str, ...] = (
    "окуп",
    "occupied",
    "occupation",
    "ордло",
    "cadr",
    "calr",
    "крим",
    "crimea",
    "тузла",
    "tuzla",
    "захоплено",
    "зайняті ворогом",
    "captured",
)
# KML fill colours of occupied polygons (red) and of Crimea/ORDLO (dark red); used only
# when a label says nothing (e.g. "Багатокутник 11", i.e. "Polygon 11").
_OCCUPIED_FILLS: frozenset[str] = frozenset({"#a52714", "#880e4f"})

_KEY_RE = re.compile(r"geojson\.([a-z0-9_.\-]+)")


def _normalise_label(label: str) -> str:
    """Casefold a label and collapse non-breaking spaces, newlines and runs of blanks."""
    return " ".join(label.replace("\xa0", " ").split()).casefold()


def classify_label(name: object, fill: object = None) -> bool:
    """Whether a DeepStateMap feature marks occupied territory of Ukraine.

    Parameters
    ----------
    name
        The feature's ``name`` property: ``"<UA> /// <EN> /// geoJSON.<key>"``, or the
        older ``"<UA> /// <EN>"`` and Ukrainian-only labels. Non-breaking spaces, newlines
        and case are ignored.
    fill
        The feature's KML ``fill`` colour, used only when the label carries no class.

    Returns
    -------
    bool
        ``True`` for occupied areas, Crimea, ORDLO (and Tuzla island); ``False`` for
        liberated, contested and unknown areas, layers about other countries, and
        anything unrecognised.

    Notes
    -----
    The ``geoJSON.<key>`` suffix, when present, decides alone. Otherwise the label text
    (Ukrainian or English) is matched against markers of other countries, then of
    liberated/contested areas, then of occupation; a label that matches none falls back
    on the fill colour.
    """
    text = _normalise_label(name) if isinstance(name, str) else ""
    key_match = _KEY_RE.search(text)
    if key_match:
        return key_match.group(1).strip(".") in OCCUPIED_KEYS
    if any(marker in text for marker in _FOREIGN_MARKERS):
        return False
    if any(marker in text for marker in _NOT_OCCUPIED_MARKERS):
        return False
    if any(marker in text for marker in _OCCUPIED_MARKERS):
        return True
    return isinstance(fill, str) and fill.strip().casefold() in _OCCUPIED_FILLS


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _load_feature_collection(path: Path) -> dict[str, Any]:
    """Read a GeoJSON file as a dict, raising AgreementError when it is unusable."""
    try:
        with Path(path).open("rb") as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise AgreementError(f"{path}: file not found") from exc
    except (OSError, ValueError) as exc:
        raise AgreementError(f"{path}: not a readable GeoJSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise AgreementError(f"{path}: not a GeoJSON object")
    if data.get("type") == "Feature":
        return {"type": "FeatureCollection", "features": [data], "crs": data.get("crs")}
    if data.get("type") in {
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
        "LineString",
        "MultiLineString",
        "Point",
        "MultiPoint",
    }:
        return {"type": "FeatureCollection", "features": [{"geometry": data, "properties": {}}]}
    if data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise AgreementError(f"{path}: not a GeoJSON FeatureCollection")
    return data


def _source_crs(path: Path, collection: dict[str, Any]) -> CRS | None:
    """The CRS named in a (legacy) ``crs`` member, or None when it is WGS84 lon/lat."""
    crs_member = collection.get("crs")
    if not isinstance(crs_member, dict):
        return None
    name = (crs_member.get("properties") or {}).get("name")
    if not isinstance(name, str):
        return None
    try:
        crs = CRS.from_user_input(name)
    except Exception as exc:  # pyproj raises CRSError, a subclass of Exception
        raise AgreementError(f"{path}: unknown CRS {name!r}") from exc
    if crs.to_epsg() == 4326 or crs.equals(CRS.from_user_input("OGC:CRS84")):
        return None
    return crs


def _polygonal(geom: BaseGeometry | None) -> list[Polygon]:
    """The non-empty polygons inside any geometry (collections are flattened)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return [g for g in geom.geoms if not g.is_empty]
    if hasattr(geom, "geoms"):
        out: list[Polygon] = []
        for part in geom.geoms:
            out.extend(_polygonal(part))
        return out
    return []


def _as_multipolygon(geom: BaseGeometry | None) -> MultiPolygon:
    """Polygonal part of a geometry as a MultiPolygon (empty when there is none)."""
    parts = _polygonal(geom)
    return MultiPolygon(parts) if parts else MultiPolygon()


def _clean_union(geoms: Iterable[BaseGeometry]) -> MultiPolygon:
    """Make geometries valid, keep their polygons and union them."""
    polygons: list[Polygon] = []
    for geom in geoms:
        flat = shapely.force_2d(geom)
        polygons.extend(_polygonal(shapely.make_valid(flat)))
    if not polygons:
        return MultiPolygon()
    return _as_multipolygon(shapely.make_valid(shapely.union_all(polygons)))


def _feature_geometry(feature: Any) -> BaseGeometry | None:
    """A feature's geometry as a shapely object (None when absent or unreadable)."""
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        return None
    try:
        return shape(feature["geometry"])
    except Exception:  # malformed coordinates: skip the feature, not the file
        return None


def _reproject(geom: BaseGeometry, crs: CRS | None) -> BaseGeometry:
    """Transform a geometry from ``crs`` to WGS84 lon/lat (no-op when ``crs`` is None)."""
    if crs is None or geom.is_empty:
        return geom
    transformer = Transformer.from_crs(crs, _WGS84, always_xy=True)
    return _apply_transformer(geom, transformer)


def read_control_layer(path: Path) -> MultiPolygon:
    """Read the occupied territory from a DeepStateMap snapshot.

    Parameters
    ----------
    path
        A GeoJSON file in either of two forms:

        * the daily ``cyterat/deepstate-map-data`` file: one feature without properties
          whose MultiPolygon is the occupied territory;
        * the full DeepStateMap layer export (``DanielRose2310/deepstatemaps-history``):
          many Polygons, Points and GeometryCollections labelled by their ``name``
          property. Only occupied territory of Ukraine is kept (``status.occupied``,
          ``territories.crimea``, ``territories.ordlo``, ``territories.tuzla`` and the
          Ukrainian/English text equivalents of older labels); liberated, contested and
          unknown areas, points (units, attack arrows) and layers about other countries
          are dropped. See :func:`classify_label`.

        When no feature has a ``name`` label, every polygon counts as occupied.

    Returns
    -------
    MultiPolygon
        The valid union of the occupied polygons, WGS84 lon/lat.

    Raises
    ------
    AgreementError
        If the file cannot be read or holds no usable occupied-territory polygon.
    """
    path = Path(path)
    collection = _load_feature_collection(path)
    features = collection["features"]
    crs = _source_crs(path, collection)

    def props(feature: Any) -> dict[str, Any]:
        value = feature.get("properties") if isinstance(feature, dict) else None
        return value if isinstance(value, dict) else {}

    labelled = any(
        isinstance(props(f).get("name"), str) and props(f)["name"].strip() for f in features
    )
    kept: list[BaseGeometry] = []
    for feature in features:
        geom = _feature_geometry(feature)
        if geom is None or not _polygonal(geom):
            continue
        p = props(feature)
        if labelled and not classify_label(p.get("name"), p.get("fill")):
            continue
        kept.append(geom)
    result = _clean_union(kept)
    if result.is_empty:
        kind = "labelled occupied-territory" if labelled else "polygon"
        raise AgreementError(
            f"{path}: no usable {kind} geometry found among {len(features)} features",
            problems=[(str(path), "features", "no occupied-territory polygons")],
        )
    return _as_multipolygon(shapely.make_valid(_reproject(result, crs)))


def read_boundary(path: Path, *, fill_holes: bool = True) -> Polygon | MultiPolygon:
    """Read a country outline as the union of all polygons in a GeoJSON file.

    Parameters
    ----------
    path
        A GeoJSON file, e.g. geoBoundaries ADM2 districts (use land districts: ADM1
        files may include territorial waters).
    fill_holes
        Drop interior rings of the union. Simplified districts leave small gaps between
        each other, which are not borders of the country.

    Returns
    -------
    Polygon or MultiPolygon
        The country, WGS84 lon/lat.

    Raises
    ------
    AgreementError
        If the file cannot be read or holds no polygon.
    """
    path = Path(path)
    collection = _load_feature_collection(path)
    crs = _source_crs(path, collection)
    geoms = [_feature_geometry(f) for f in collection["features"]]
    union = _clean_union(g for g in geoms if g is not None)
    if union.is_empty:
        raise AgreementError(
            f"{path}: no polygon found for the boundary",
            problems=[(str(path), "features", "no polygons")],
        )
    result = _as_multipolygon(shapely.make_valid(_reproject(union, crs)))
    if fill_holes:
        result = _fill_holes(result)
    return result.geoms[0] if len(result.geoms) == 1 else result


# ---------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------


def _apply_transformer(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def func(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return shapely.transform(geom, func)


def _fill_holes(geom: BaseGeometry) -> MultiPolygon:
    return MultiPolygon([Polygon(p.exterior) for p in _polygonal(geom)])


def _metric_crs(bounds: tuple[float, float, float, float]) -> CRS:
    """A Lambert conformal conic fitted to a lon/lat box (standard parallels at 1/6, 5/6)."""
    lon_min, lat_min, lon_max, lat_max = bounds
    lat0 = math.floor(lat_min)
    lat1 = max(math.ceil(lat_max), lat0 + 1)
    span = lat1 - lat0
    return CRS.from_proj4(
        f"+proj=lcc +lat_1={lat0 + span / 6:.4f} +lat_2={lat1 - span / 6:.4f} "
        f"+lat_0={(lat0 + lat1) / 2:.4f} +lon_0={round((lon_min + lon_max) / 2, 1):.1f} "
        "+x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    )


def _lines(geom: BaseGeometry | None) -> list[LineString]:
    """The non-empty line strings inside any geometry."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    if hasattr(geom, "geoms"):
        out: list[LineString] = []
        for part in geom.geoms:
            out.extend(_lines(part))
        return out
    return []


def _merge(lines: Sequence[LineString]) -> MultiLineString:
    if not lines:
        return MultiLineString()
    merged = shapely.line_merge(shapely.union_all(list(lines)))
    return MultiLineString(_lines(merged))


def _drop_border_runs(
    line: LineString, outline_band: BaseGeometry, max_run_m: float, step_m: float
) -> list[LineString]:
    """Cut out stretches of ``line`` that run inside ``outline_band`` for > ``max_run_m``.

    Short stretches are kept: they are where the front reaches the border or the coast.
    """
    dense = shapely.segmentize(line, step_m)
    coords = np.asarray(dense.coords)
    inside = shapely.contains_xy(outline_band, coords[:, 0], coords[:, 1])
    if not inside.any():
        return [line]
    seg_len = np.hypot(*np.diff(coords, axis=0).T)
    # A segment is "in the band" when both its ends are.
    seg_in = inside[:-1] & inside[1:]
    keep_seg = np.ones(len(seg_len), dtype=bool)
    start = None
    for i in range(len(seg_in) + 1):
        flag = bool(seg_in[i]) if i < len(seg_in) else False
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if seg_len[start:i].sum() > max_run_m:
                keep_seg[start:i] = False
            start = None
    if keep_seg.all():
        return [line]
    pieces: list[LineString] = []
    run: list[int] = []
    for i, keep in enumerate(keep_seg):
        if keep:
            run.append(i)
            continue
        if run:
            pieces.append(LineString(coords[run[0] : run[-1] + 2]))
            run = []
    if run:
        pieces.append(LineString(coords[run[0] : run[-1] + 2]))
    return pieces


# ---------------------------------------------------------------------------------------
# Line of contact
# ---------------------------------------------------------------------------------------


def line_from_control(
    control: BaseGeometry,
    boundary: BaseGeometry,
    *,
    min_fragment_share: float = 0.05,
    sliver_km: float = 2.0,
    max_border_run_km: float = 5.0,
    min_piece_km: float = 0.05,
) -> MultiLineString:
    """Derive the line of contact from the controlled area and the country outline.

    Parameters
    ----------
    control
        The area held by the second party (e.g. :func:`read_control_layer`), WGS84.
    boundary
        The country (e.g. :func:`read_boundary`), WGS84. Interior rings are ignored.
    min_fragment_share
        Parts of the rest of the country smaller than this share of its largest part are
        not "main body": slivers between two mismatched coastlines and islands of free
        land inside the controlled area do not make a line.
    sliver_km
        Width of the band along the country outline (border and coast) in which the
        controlled area's edge is treated as an artefact of mismatched border lines.
        Controlled fragments lying wholly inside this band are dropped.
    max_border_run_km
        Stretches of the line that stay inside that band for longer than this are
        removed; shorter ones are where the front meets the border and are kept.
    min_piece_km
        Pieces of line shorter than this are dropped after the cuts.

    Returns
    -------
    MultiLineString
        The line of contact, line-merged, WGS84 lon/lat. Empty when the controlled area
        does not border the main body of the country.

    Raises
    ------
    AgreementError
        If the inputs hold no polygons, do not overlap, or the options are out of range.

    Notes
    -----
    Computed in a Lambert conformal conic fitted to the boundary: ``controlled = control
    ∩ boundary``, ``rest = boundary − control``; the main body is the parts of ``rest``
    kept by ``min_fragment_share``; the line is the part of the controlled area's
    boundary within 1 m of the main body, minus the country outline and the border
    runs described above.
    """
    if not 0 < min_fragment_share <= 1:
        raise AgreementError(f"min_fragment_share must be in (0, 1], got {min_fragment_share!r}")
    for arg, value in (
        ("sliver_km", sliver_km),
        ("max_border_run_km", max_border_run_km),
        ("min_piece_km", min_piece_km),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise AgreementError(f"{arg} must be a non-negative number, got {value!r}")

    country_ll = _fill_holes(shapely.make_valid(boundary))
    control_ll = _as_multipolygon(shapely.make_valid(control))
    if country_ll.is_empty:
        raise AgreementError("boundary holds no polygon")
    if control_ll.is_empty:
        raise AgreementError("control holds no polygon")

    crs = _metric_crs(country_ll.bounds)
    fwd = Transformer.from_crs(_WGS84, crs, always_xy=True)
    inv = Transformer.from_crs(crs, _WGS84, always_xy=True)
    # Edges are straight in lon/lat; densify them so that they stay put when projected.
    country_ll = shapely.segmentize(country_ll, _DENSIFY_DEG)
    control_ll = shapely.segmentize(control_ll, _DENSIFY_DEG)
    country = _as_multipolygon(shapely.make_valid(_apply_transformer(country_ll, fwd)))
    held = _as_multipolygon(shapely.make_valid(_apply_transformer(control_ll, fwd)))

    controlled = _as_multipolygon(shapely.intersection(held, country))
    rest = _as_multipolygon(shapely.difference(country, held))
    if controlled.is_empty:
        raise AgreementError("control does not overlap the boundary")
    if rest.is_empty:
        return MultiLineString()

    tol = 1.0  # metres: shared edges of an overlay coincide to far better than this
    outline = country.boundary
    band = outline.buffer(sliver_km * 1000.0) if sliver_km > 0 else None

    largest = max(p.area for p in rest.geoms)
    main_body = MultiPolygon([p for p in rest.geoms if p.area >= min_fragment_share * largest])
    parts = [p for p in controlled.geoms if band is None or not band.contains(p)]
    if not parts:
        return MultiLineString()
    kept = MultiPolygon(parts)

    shared = shapely.intersection(kept.boundary, main_body.buffer(tol))
    shared = shapely.difference(shared, outline.buffer(tol))
    pieces = _lines(_merge(_lines(shared)))
    if band is not None and max_border_run_km > 0:
        cut: list[LineString] = []
        for piece in pieces:
            cut.extend(_drop_border_runs(piece, band, max_border_run_km * 1000.0, step_m=100.0))
        pieces = _lines(_merge(cut))
    pieces = [p for p in pieces if p.length >= min_piece_km * 1000.0]
    merged = _merge(pieces)
    if merged.is_empty:
        return merged
    # Drop the vertices added by densifying (collinear in metres, then in degrees).
    merged = shapely.simplify(merged, 0.001)
    lonlat = shapely.simplify(_apply_transformer(merged, inv), 1e-9)
    return MultiLineString(_lines(lonlat))


def line_length_km(line: BaseGeometry) -> float:
    """Geodesic length (WGS84 ellipsoid) of a lon/lat line, in kilometres."""
    return float(_GEOD.geometry_length(line)) / 1000.0


# ---------------------------------------------------------------------------------------
# Control polygons and the agreement folder
# ---------------------------------------------------------------------------------------


def _check_parties(parties: object) -> tuple[str, str]:
    message = f"parties must be two distinct, non-empty party codes, got {parties!r}"
    if not isinstance(parties, tuple | list) or len(parties) != 2:
        raise AgreementError(message, problems=[("agreement.yaml", "parties", message)])
    first, second = parties
    for code in (first, second):
        if not isinstance(code, str) or not code or code.strip() != code:
            raise AgreementError(message, problems=[("agreement.yaml", "parties", message)])
    if first == second:
        raise AgreementError(message, problems=[("agreement.yaml", "parties", message)])
    return str(first), str(second)


def _check_zones(zones_km: object) -> list[float]:
    values: list[float] = []
    problem = None
    if isinstance(zones_km, str | bytes) or not isinstance(zones_km, Sequence):
        problem = "must be a sequence of widths in km"
    elif not zones_km:
        problem = "must not be empty"
    else:
        for value in zones_km:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problem = f"holds a non-number {value!r}"
                break
            if not math.isfinite(value) or value <= 0:
                problem = f"holds a non-positive or non-finite width {value!r}"
                break
            values.append(float(value))
        else:
            if any(b <= a for a, b in itertools.pairwise(values)):
                problem = "must be strictly increasing"
    if problem is not None:
        message = f"zones_km {problem}, got {zones_km!r}"
        raise AgreementError(message, problems=[("agreement.yaml", "zones", message)])
    return values


def control_polygons(
    control: BaseGeometry, boundary: BaseGeometry, parties: tuple[str, str]
) -> gpd.GeoDataFrame:
    """The two control areas of the country as a GeoDataFrame.

    Parameters
    ----------
    control
        The area held by the second party, WGS84.
    boundary
        The country, WGS84.
    parties
        ``(first, second)`` party codes, e.g. ``("UA", "RU")``.

    Returns
    -------
    geopandas.GeoDataFrame
        Two rows, columns ``party`` and ``geometry`` (EPSG:4326): the rest of the country
        for the first party, then ``control ∩ boundary`` for the second.

    Raises
    ------
    AgreementError
        If ``parties`` is not two distinct codes or the inputs hold no polygons.
    """
    first, second = _check_parties(parties)
    country = _as_multipolygon(shapely.make_valid(boundary))
    held = _as_multipolygon(shapely.make_valid(control))
    if country.is_empty:
        raise AgreementError("boundary holds no polygon")
    if held.is_empty:
        raise AgreementError("control holds no polygon")
    controlled = _as_multipolygon(shapely.intersection(held, country))
    rest = _as_multipolygon(shapely.difference(country, held))
    return gpd.GeoDataFrame(
        {"party": [first, second]}, geometry=[rest, controlled], crs="EPSG:4326"
    )


def _feature_collection(features: list[tuple[dict[str, Any], BaseGeometry]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": props,
                "geometry": mapping(shapely.set_precision(geom, 1e-7)),
            }
            for props, geom in features
        ],
    }


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _flow_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def agreement_from_control(
    control_path: Path,
    boundary_path: Path,
    *,
    effective: datetime,
    parties: tuple[str, str],
    zones_km: Sequence[float] = (15, 50, 70, 140),
    out_dir: Path,
    name: str | None = None,
) -> Path:
    """Write an agreement folder whose line of contact is the front of a control map.

    Parameters
    ----------
    control_path
        DeepStateMap snapshot (see :func:`read_control_layer`): the area held by the
        second party.
    boundary_path
        Country outline GeoJSON (see :func:`read_boundary`).
    effective
        When the agreement takes effect. A naive datetime is taken as UTC.
    parties
        ``(first, second)``: the first holds the rest of the country, the second the
        controlled area.
    zones_km
        Band widths from the line, positive and strictly increasing. The Minsk widths
        15/50/70/140 get the zone ids ``disengagement``, ``artillery``, ``mlrs`` and
        ``heavy_mlrs`` and their prohibitions; other widths get ``band_<w>km`` with none.
    out_dir
        Folder to write (created if missing; the four files are overwritten).
    name
        Agreement name; defaults to one naming the date and the control file.

    Returns
    -------
    pathlib.Path
        Path of the written ``agreement.yaml``; beside it ``line.geojson`` (one
        MultiLineString feature), ``control.geojson`` (two features with ``party``) and
        ``boundary.geojson``.

    Raises
    ------
    AgreementError
        If ``parties``, ``zones_km`` or ``effective`` are invalid, an input cannot be
        read, or no line of contact results.
    """
    first, second = _check_parties(parties)
    widths = _check_zones(zones_km)
    if not isinstance(effective, datetime):
        message = f"effective must be a datetime, got {effective!r}"
        raise AgreementError(message, problems=[("agreement.yaml", "effective", message)])
    if name is not None and (not isinstance(name, str) or not name.strip()):
        message = f"name must be a non-empty string, got {name!r}"
        raise AgreementError(message, problems=[("agreement.yaml", "name", message)])
    when = effective.replace(tzinfo=UTC) if effective.tzinfo is None else effective
    when = when.astimezone(UTC)

    control_path = Path(control_path)
    boundary_path = Path(boundary_path)
    control = read_control_layer(control_path)
    boundary = read_boundary(boundary_path)
    line = line_from_control(control, boundary)
    if line.is_empty:
        raise AgreementError(
            f"{control_path}: the controlled area does not border the rest of the country",
            problems=[(str(control_path), "line_of_contact", "empty line")],
        )
    areas = control_polygons(control, boundary, (first, second))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    length_km = line_length_km(line)
    _write_json(
        out / "line.geojson",
        _feature_collection([({"length_km": round(length_km, 1)}, line)]),
    )
    _write_json(
        out / "control.geojson",
        _feature_collection(
            [({"party": str(row.party)}, row.geometry) for row in areas.itertuples()]
        ),
    )
    _write_json(out / "boundary.geojson", _feature_collection([({}, boundary)]))

    title = name or f"Line of contact as of {when:%Y-%m-%d} ({control_path.name})"
    zone_lines = []
    for width in widths:
        zone_id, prohibits = ZONE_PRESETS.get(width, (f"band_{_number(width)}km", ()))
        zone_lines.append(
            f"  - {{id: {zone_id}, width_km: {_number(width)}, prohibits: {_flow_list(prohibits)}}}"
        )
    text = "\n".join(
        [
            "# Generated by ceasewatch.agreement.from_control",
            f"# control:  {control_path.name}",
            f"# boundary: {boundary_path.name}",
            f"# line of contact: {length_km:.1f} km (geodesic)",
            f"name: {json.dumps(title, ensure_ascii=False)}",
            f"parties: {_flow_list((first, second))}",
            f"effective: {when:%Y-%m-%dT%H:%M:%SZ}",
            "line_of_contact: line.geojson",
            "control: control.geojson",
            "boundary: boundary.geojson",
            "zones:",
            *zone_lines,
            f"prohibited_everywhere: {_flow_list(PROHIBITED_EVERYWHERE)}",
            'report_cutoff: "19:30"',
            "timezone: Europe/Kyiv",
            "",
        ]
    )
    # The YAML is written by hand to keep the documented layout; check it parses back.
    parsed = yaml.safe_load(text)
    if parsed.get("parties") != [first, second] or len(parsed.get("zones", [])) != len(widths):
        raise AgreementError(f"internal error: generated YAML does not read back:\n{text}")
    path = out / "agreement.yaml"
    path.write_text(text, encoding="utf-8")
    return path
