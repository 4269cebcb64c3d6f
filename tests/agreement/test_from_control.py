"""Tests of ceasewatch.agreement.from_control on synthetic shapes and DeepStateMap data."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, mapping, shape

from ceasewatch.agreement.from_control import (
    agreement_from_control,
    classify_label,
    control_polygons,
    line_from_control,
    line_length_km,
    read_boundary,
    read_control_layer,
)
from ceasewatch.errors import AgreementError

RAW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "raw"
FRONT = RAW / "frontline_deepstate"
CYTERAT_TAR = FRONT / "cyterat_deepstate-map-data_data_20240708-20260822.tar.xz"
DANIELROSE_TAR = FRONT / "DanielRose2310_deepstatemaps-history_geojsons_20220403-20250803.tar.xz"
ADM2 = RAW / "admin_boundaries" / "geoBoundaries-UKR-ADM2_simplified.geojson"
CYTERAT_MEMBER = "data/deepstatemap_data_20250301.geojson"
# The full-layer snapshot closest to, and not after, 2025-03-02 00:00 UTC.
DANIELROSE_CUTOFF = int(datetime(2025, 3, 2, tzinfo=UTC).timestamp())

GEOD = Geod(ellps="WGS84")
# Metric CRS for the distance checks of the tests (independent of the module's own).
LCC = "+proj=lcc +lat_1=46 +lat_2=50 +lat_0=48.5 +lon_0=31.5 +ellps=WGS84 +units=m +no_defs"


def _require(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"../shared/data not present: missing {', '.join(missing)}")


def _to_metric(geom: shapely.Geometry) -> shapely.Geometry:
    tr = Transformer.from_crs("EPSG:4326", LCC, always_xy=True)

    def func(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geom, func)


# --------------------------------------------------------------------------------------
# Fixtures: archive members extracted once per session
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Stream the needed members out of the two archives into a temporary folder."""
    _require(CYTERAT_TAR, DANIELROSE_TAR, ADM2)
    out = tmp_path_factory.mktemp("deepstate")
    files: dict[str, Path] = {}
    with tarfile.open(CYTERAT_TAR, "r|xz") as tf:
        for member in tf:
            if member.name == CYTERAT_MEMBER:
                fh = tf.extractfile(member)
                assert fh is not None
                files["cyterat"] = out / Path(member.name).name
                files["cyterat"].write_bytes(fh.read())
                break
    # Archive order is not chronological: one full pass, keeping the best candidate so far.
    best = -1
    with tarfile.open(DANIELROSE_TAR, "r|xz") as tf:
        for member in tf:
            stem = Path(member.name).stem
            if not member.isfile() or not stem.isdigit():
                continue
            stamp = int(stem)
            if best < stamp <= DANIELROSE_CUTOFF:
                fh = tf.extractfile(member)
                assert fh is not None
                files["danielrose"] = out / Path(member.name).name
                files["danielrose"].write_bytes(fh.read())
                best = stamp
    if "cyterat" not in files or "danielrose" not in files:
        pytest.skip(f"../shared/data archives lack the 2025-03-01 snapshots: found {files}")
    yield files


@pytest.fixture(scope="session")
def boundary() -> Polygon | MultiPolygon:
    _require(ADM2)
    return read_boundary(ADM2)


@pytest.fixture(scope="session")
def cyterat_line(extracted: dict[str, Path], boundary: Polygon | MultiPolygon) -> shapely.Geometry:
    return line_from_control(read_control_layer(extracted["cyterat"]), boundary)


# --------------------------------------------------------------------------------------
# Synthetic cases
# --------------------------------------------------------------------------------------

COUNTRY = box(30.0, 48.0, 31.0, 49.0)


def test_synthetic_rectangle_gives_exactly_the_shared_edge() -> None:
    control = box(30.6, 47.5, 31.5, 49.5)  # overshoots the country on three sides
    line = line_from_control(control, COUNTRY)
    edge = LineString([(30.6, 48.0), (30.6, 49.0)])
    assert line.geom_type == "MultiLineString"
    assert len(line.geoms) == 1
    # Ends are trimmed by the 1 m tolerance at the border only.
    assert shapely.hausdorff_distance(line, edge) < 1e-4
    assert line_length_km(line) == pytest.approx(GEOD.geometry_length(edge) / 1000, abs=0.01)
    lons = shapely.get_coordinates(line)[:, 0]
    assert np.allclose(lons, 30.6, atol=1e-9)


def test_synthetic_free_sliver_along_the_coast_is_not_main_body() -> None:
    # The controlled block stops 300 m short of the eastern border: that strip of "free"
    # land is disconnected from the main body and must not make a line.
    control = box(30.6, 47.5, 30.996, 49.5)
    line = line_from_control(control, COUNTRY)
    assert len(line.geoms) == 1
    assert np.allclose(shapely.get_coordinates(line)[:, 0], 30.6, atol=1e-9)


def test_synthetic_controlled_sliver_along_the_border_is_dropped() -> None:
    # A 500 m wide strip of the controlled area runs 30 km along the northern border
    # into free land (mismatched border lines), and a separate thin sliver lies along
    # the western border: neither is a front.
    lat_500m = 49.0 - 0.0045
    strip = box(30.18, lat_500m, 30.6, 49.0)
    west = box(29.9, 48.3, 30.005, 48.6)
    control = shapely.union_all([box(30.6, 47.5, 31.5, 49.5), strip, west])
    line = line_from_control(control, COUNTRY)
    assert len(line.geoms) == 1
    coords = shapely.get_coordinates(line)
    assert np.allclose(coords[:, 0], 30.6, atol=1e-9)
    # The run along the border band (the last ~2 km of the edge plus the strip) is cut.
    assert coords[:, 1].max() < 49.0 - 0.015
    assert 100 < line_length_km(line) < 111.3


def test_no_line_when_nothing_borders_the_rest() -> None:
    line = line_from_control(box(29, 47, 32, 50), COUNTRY)
    assert line.is_empty


def test_control_polygons_split_the_country() -> None:
    gdf = control_polygons(box(30.6, 47.5, 31.5, 49.5), COUNTRY, ("UA", "RU"))
    assert list(gdf["party"]) == ["UA", "RU"]
    assert str(gdf.crs) == "EPSG:4326"
    assert gdf.geometry.iloc[0].area == pytest.approx(0.6)
    assert gdf.geometry.iloc[1].area == pytest.approx(0.4)
    with pytest.raises(AgreementError, match="parties"):
        control_polygons(box(30.6, 47.5, 31.5, 49.5), COUNTRY, ("UA", "UA"))


@pytest.mark.parametrize(
    ("label", "fill", "expected"),
    [
        ("Окуповано /// Occupied /// geoJSON.status.occupied", "#a52714", True),
        ("Окупований Крим /// Occupied Crimea /// geoJSON.territories.crimea", None, True),
        ("ОРДЛО /// CADR and CALR /// geoJSON.territories.ordlo", None, True),
        ("Статус невідомий /// Unknown status\xa0/// geoJSON.status.unknown", None, False),
        ("Звільнено 02.07 /// Liberated /// geoJSON.status.dismissed_at {{at:02.07}}", None, False),
        ("Придністров'я/// Transnistria /// geoJSON.territories.transnistria", "#ff5252", False),
        ("Окупована Абхазія. /// Occupied Abkhazia.", "#ff5252", False),
        ("Окуповані у Естонії території. /// occupied Estonia territories.", None, False),
        ("Окуповано\n", "#a52714", True),
        ("Окуп\ufffd\ufffdвано /// Occupied", "#a52714", True),
        ("Під питанням /// Contested", "#bcaaa4", False),
        ("Крим", "#000000", True),
        ("Багатокутник 11", "#a52714", True),
        ("Багатокутник 22", "#bcaaa4", False),
        ("Зміїний /// Snake Island /// geoJSON.zmiinyi_island", "#0f9d58", False),
        ("OCCUPIED", None, True),
        (None, None, False),
    ],
)
def test_classify_label(label: str | None, fill: str | None, expected: bool) -> None:
    assert classify_label(label, fill) is expected


def test_read_control_layer_old_labels_and_collections(tmp_path: Path) -> None:
    occupied = box(36, 47, 37, 48)
    features = [
        # 2022-style Ukrainian-only label with a GeometryCollection
        {
            "type": "Feature",
            "properties": {"name": "Окуповано\xa0\n", "fill": "#a52714"},
            "geometry": {
                "type": "GeometryCollection",
                "geometries": [mapping(occupied), mapping(Point(36.5, 47.5))],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "Звільнено /// Liberated", "fill": "#0f9d58"},
            "geometry": mapping(box(35, 47, 36, 48)),
        },
        {
            "type": "Feature",
            "properties": {"name": "Придністров'я /// Transnistria", "fill": "#ff5252"},
            "geometry": mapping(box(29, 46.5, 30, 48)),
        },
        {
            "type": "Feature",
            "properties": {"name": "Полк /// Regiment /// geoJSON.units.regiment."},
            "geometry": mapping(Point(36.2, 47.2)),
        },
    ]
    path = tmp_path / "old.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    result = read_control_layer(path)
    assert result.geom_type == "MultiPolygon"
    assert result.equals(MultiPolygon([occupied]))


def test_read_control_layer_errors(tmp_path: Path) -> None:
    only_points = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "x"}, "geometry": mapping(Point(1, 2))}
        ],
    }
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps(only_points), "utf-8")
    with pytest.raises(AgreementError, match="no usable"):
        read_control_layer(path)
    with pytest.raises(AgreementError, match="not found"):
        read_control_layer(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(AgreementError, match="not a readable"):
        read_control_layer(bad)


# --------------------------------------------------------------------------------------
# Agreement folder
# --------------------------------------------------------------------------------------


def _synthetic_inputs(tmp_path: Path) -> tuple[Path, Path]:
    control = tmp_path / "control_in.geojson"
    control.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": mapping(box(30.6, 47, 32, 50)),
                    }
                ],
            }
        ),
        "utf-8",
    )
    country = tmp_path / "country_in.geojson"
    halves = [box(30.0, 48.0, 30.5, 49.0), box(30.5, 48.0, 31.0, 49.0)]
    country.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"shapeName": str(i)}, "geometry": mapping(g)}
                    for i, g in enumerate(halves)
                ],
            }
        ),
        "utf-8",
    )
    return control, country


def test_agreement_from_control_writes_a_folder(tmp_path: Path) -> None:
    control, country = _synthetic_inputs(tmp_path)
    out = tmp_path / "agreement"
    path = agreement_from_control(
        control,
        country,
        effective=datetime(2025, 3, 1, 2, 0),  # naive: taken as UTC
        parties=("UA", "RU"),
        zones_km=(15, 30, 50, 70, 140),
        out_dir=out,
    )
    assert path == out / "agreement.yaml"
    text = path.read_text("utf-8")
    assert "effective: 2025-03-01T02:00:00Z" in text
    doc = yaml.safe_load(text)
    assert {
        "name",
        "parties",
        "effective",
        "line_of_contact",
        "control",
        "boundary",
        "zones",
        "prohibited_everywhere",
        "report_cutoff",
        "timezone",
    } <= set(doc)
    assert doc["parties"] == ["UA", "RU"]
    assert doc["effective"] == datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    assert doc["zones"] == [
        {"id": "disengagement", "width_km": 15, "prohibits": ["any_military_activity"]},
        {"id": "band_30km", "width_km": 30, "prohibits": []},
        {"id": "artillery", "width_km": 50, "prohibits": ["artillery_100mm_plus"]},
        {"id": "mlrs", "width_km": 70, "prohibits": ["mlrs"]},
        {"id": "heavy_mlrs", "width_km": 140, "prohibits": ["heavy_mlrs", "tactical_missiles"]},
    ]
    assert doc["prohibited_everywhere"] == [
        "shelling",
        "air_strike",
        "missile_strike",
        "drone_strike",
        "armed_clash",
    ]
    assert doc["report_cutoff"] == "19:30"
    assert doc["timezone"] == "Europe/Kyiv"

    line_fc = json.loads((out / doc["line_of_contact"]).read_text("utf-8"))
    assert len(line_fc["features"]) == 1
    line = shape(line_fc["features"][0]["geometry"])
    assert line.geom_type == "MultiLineString"
    assert shapely.hausdorff_distance(line, LineString([(30.6, 48), (30.6, 49)])) < 1e-4

    control_fc = json.loads((out / doc["control"]).read_text("utf-8"))
    assert [f["properties"]["party"] for f in control_fc["features"]] == ["UA", "RU"]
    boundary_fc = json.loads((out / doc["boundary"]).read_text("utf-8"))
    country_shape = shape(boundary_fc["features"][0]["geometry"])
    assert country_shape.equals(COUNTRY)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"zones_km": (15, 10)}, r"zones_km .*\(15, 10\)"),
        ({"zones_km": (15, 15)}, "zones_km"),
        ({"zones_km": (0, 15)}, r"zones_km .*0"),
        ({"zones_km": (-5,)}, r"zones_km .*-5"),
        ({"zones_km": ()}, "zones_km"),
        ({"zones_km": (15, float("nan"))}, "zones_km"),
        ({"parties": ("UA", "UA")}, r"parties .*'UA', 'UA'"),
        ({"parties": ("UA",)}, "parties"),
        ({"parties": ("UA", "RU", "BY")}, "parties"),
        ({"parties": ("UA", "")}, "parties"),
    ],
)
def test_agreement_from_control_validates_arguments(
    tmp_path: Path, kwargs: dict[str, object], pattern: str
) -> None:
    control, country = _synthetic_inputs(tmp_path)
    args: dict[str, object] = {
        "effective": datetime(2025, 3, 1, tzinfo=UTC),
        "parties": ("UA", "RU"),
        "out_dir": tmp_path / "out",
        **kwargs,
    }
    with pytest.raises(AgreementError, match=pattern):
        agreement_from_control(control, country, **args)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------
# Real data: DeepStateMap 2025-03-01 against the geoBoundaries outline of Ukraine
# --------------------------------------------------------------------------------------


def test_boundary_is_one_land_polygon(boundary: Polygon | MultiPolygon) -> None:
    lon_min, lat_min, lon_max, lat_max = boundary.bounds
    assert 22 < lon_min < 23 and 40 < lon_max < 41 and 44 < lat_min < 45 and 52 < lat_max < 53
    area_km2 = _to_metric(boundary).area / 1e6
    assert 590_000 < area_km2 < 610_000


def test_cyterat_line_length(cyterat_line: shapely.Geometry) -> None:
    assert 1050 < line_length_km(cyterat_line) < 1250


def test_cyterat_line_avoids_border_and_coast(
    cyterat_line: shapely.Geometry, boundary: Polygon | MultiPolygon
) -> None:
    line = _to_metric(cyterat_line)
    outline = _to_metric(boundary).boundary
    near = line.intersection(outline.buffer(2000))
    # Only where the front reaches the border: a few km at each end of each piece.
    assert near.length / line.length < 0.03
    runs = [g.length for g in getattr(near, "geoms", [near])]
    assert max(runs) < 5000


def test_cyterat_line_is_the_land_front(
    cyterat_line: shapely.Geometry, boundary: Polygon | MultiPolygon
) -> None:
    parts = sorted(cyterat_line.geoms, key=line_length_km, reverse=True)
    main = parts[0]
    # The main front runs from the Dnipro mouth near Kherson to the Russian border
    # east of Kupiansk, and carries nearly all the length.
    assert line_length_km(main) > 0.85 * line_length_km(cyterat_line)
    ends = sorted([main.coords[0], main.coords[-1]])
    assert 32.0 < ends[0][0] < 33.0 and 46.3 < ends[0][1] < 46.8
    assert 37.5 < ends[1][0] < 38.5 and 49.7 < ends[1][1] < 50.3
    # No piece hugs the sea coast (everything south of 47.3 N is coast or the Azov
    # border with Russia): pieces with both ends within 5 km of it are short.
    outline = _to_metric(boundary).boundary
    coast = outline.intersection(_to_metric(box(20, 40, 45, 47.3)))
    coastal = [
        p
        for p in parts
        if coast.distance(_to_metric(Point(p.coords[0]))) < 5000
        and coast.distance(_to_metric(Point(p.coords[-1]))) < 5000
    ]
    assert sum(line_length_km(p) for p in coastal) < 20


def test_danielrose_full_layer(
    extracted: dict[str, Path],
    boundary: Polygon | MultiPolygon,
    cyterat_line: shapely.Geometry,
) -> None:
    control = read_control_layer(extracted["danielrose"])
    lon_min, lat_min, lon_max, lat_max = control.bounds
    # Joke layers (Transnistria, Kurils, Karelia, Prussia, ...) are gone.
    assert lon_min >= 22 and lon_max <= 41
    assert lat_min >= 44 and lat_max <= 53
    line = line_from_control(control, boundary)
    length = line_length_km(line)
    assert 1000 < length < 1300
    assert length == pytest.approx(line_length_km(cyterat_line), rel=0.1)


def test_agreement_from_real_snapshot(extracted: dict[str, Path], tmp_path: Path) -> None:
    path = agreement_from_control(
        extracted["cyterat"],
        ADM2,
        effective=datetime(2025, 3, 1, tzinfo=UTC),
        parties=("UA", "RU"),
        out_dir=tmp_path / "frozen-2025-03-01",
    )
    doc = yaml.safe_load(path.read_text("utf-8"))
    assert [z["id"] for z in doc["zones"]] == ["disengagement", "artillery", "mlrs", "heavy_mlrs"]
    fc = json.loads((path.parent / "line.geojson").read_text("utf-8"))
    line = shape(fc["features"][0]["geometry"])
    assert 1050 < line_length_km(line) < 1250
    parties = {
        f["properties"]["party"]
        for f in json.loads((path.parent / "control.geojson").read_text("utf-8"))["features"]
    }
    assert parties == {"UA", "RU"}
