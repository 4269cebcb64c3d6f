"""The table importer (docs/table-mapping.md): mapping validation, every format, chunks."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.ingest.table import TableMapping, TableSource, table_source

MAPPING = """\
source: viina_test
title: VIINA-like test table
id: event_id
time: {column: date, format: "%Y%m%d", precision: day, timezone: Europe/Kyiv}
location:
  lon: longitude
  lat: latitude
  precision_m: {column: geo, values: {ADM1: 100000, CITY: 5000, STREET: 500}}
category:
  column: kind
  values: {t_artillery: shelling, t_airstrike: air_strike, t_armor: armed_clash}
weapon_class: {text: [text]}
fatalities: deaths
attributed_to: {column: side, values: {rus: RU, ukr: UA}}
location_name: place
notes: [text, url]
reliability: C
credibility: 3
"""
ROWS = [
    # event_id, date, longitude, latitude, geo, kind, text, deaths, side, place, url
    ["v1", "20230105", "37.55", "47.10", "CITY", "t_artillery", "artillery fire on the village", "2", "rus", "Vuhledar", "https://a/1"],
    ["v2", "20230105", "37.56", "47.11", "STREET", "t_airstrike", "a glide bomb hit", "", "", "", ""],
    ["v3", "20230106", "37.57", "47.12", "ADM1", "t_armor", "tanks attacked", "0", "ukr", "", ""],
]  # fmt: skip
HEADER = ["event_id", "date", "longitude", "latitude", "geo", "kind", "text", "deaths", "side"]
HEADER += ["place", "url"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    frame = pd.DataFrame(rows, columns=header)
    frame.to_csv(path, index=False)
    return path


def mapping(tmp_path: Path, text: str = MAPPING, name: str = "map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- validation -----------------------------------------------------------------------
def test_every_mapping_problem_reported_at_once(tmp_path) -> None:
    bad = """\
source: ACLED data
id: 7
time: {column: date, format: "dd/mm/yyyy", timezone: Mars/Olympus}
location: {lon: longitude, precision_m: -5}
category: {column: kind, values: {t_art: artillery}}
weapon_class: bazooka
reliability: Z
credibility: 9
report_group: daily
colour: red
"""
    with pytest.raises(IngestError) as err:
        table_source(mapping(tmp_path, bad, "events.yaml"))
    msg = str(err.value)
    assert msg.startswith("events.yaml: 13 problem(s) in the table mapping")
    for expected in [
        "colour: unknown key",
        "source: 'ACLED data' is not a source name",
        "id: 7 is not a column name",
        "time.format: 'dd/mm/yyyy' is not a strftime pattern",
        "time.timezone: 'Mars/Olympus' is not a time zone",
        "time.precision: is required",
        "location: needs both lon and lat columns, or geometry: true",
        "location.precision_m: -5 is not a number > 0",
        "category.values.t_art: 'artillery' is not a category",
        "weapon_class: 'bazooka' is not a weapon class",
        "reliability: 'Z' is not a reliability grade",
        "credibility: 9 is not a credibility grade",
        "report_group: 'daily' is not record, source or {column: …}",
    ]:
        assert f"  - {expected}" in msg, expected


def test_mapping_refuses_a_builtin_name_and_a_non_mapping(tmp_path) -> None:
    with pytest.raises(IngestError, match=r"source: 'acled' is a built-in source"):
        table_source(mapping(tmp_path, MAPPING.replace("viina_test", "acled")))
    with pytest.raises(IngestError, match=r"must be a YAML mapping, not list"):
        table_source(mapping(tmp_path, "- a\n- b\n"))
    with pytest.raises(IngestError, match=r"is not valid YAML"):
        table_source(mapping(tmp_path, "source: [unclosed\n"))
    with pytest.raises(IngestError, match=r"cannot be read"):
        table_source(tmp_path / "missing.yaml")


def test_columns_checked_against_the_file_before_reading(tmp_path, store) -> None:
    source = table_source(mapping(tmp_path))
    path = write_csv(tmp_path / "t.csv", [r[:8] for r in ROWS], HEADER[:8])
    with pytest.raises(SourceFormatError) as err:
        ingest_file(store, source, path)
    msg = str(err.value)
    assert "t.csv lacks the column(s) that map.yaml names: " in msg
    assert "attributed_to.column 'side', location_name 'place', notes[1] 'url'" in msg
    assert store.batches().empty


# --- CSV ------------------------------------------------------------------------------
def test_csv_round_trip(tmp_path, store) -> None:
    source = table_source(mapping(tmp_path))
    assert isinstance(source, TableSource)
    assert source.name == "viina_test"
    result = ingest_file(store, source, write_csv(tmp_path / "t.csv", ROWS))
    assert (result.loaded, result.quarantined) == (3, 0)
    ev = store.events(with_raw=True).set_index("source_event_id")
    assert ev["source"].unique().tolist() == ["viina_test"]
    # a date is the local date at 00:00 UTC, whatever the time zone (normalize.timeprec)
    assert ev.at["v1", "occurred_at"] == pd.Timestamp("2023-01-05T00:00:00Z")
    assert ev["time_precision"].unique().tolist() == ["day"]
    assert ev["geo_precision_m"].to_dict() == {"v1": 5000.0, "v2": 500.0, "v3": 100000.0}
    assert ev["category"].to_dict() == {"v1": "shelling", "v2": "air_strike", "v3": "armed_clash"}
    assert ev["weapon_class"].to_dict() == {
        "v1": "artillery_100mm_plus",
        "v2": "aircraft",
        "v3": "tank",
    }
    assert ev.at["v1", "attributed_to"] == "RU" and pd.isna(ev.at["v2", "attributed_to"])
    assert ev.at["v1", "fatalities"] == 2.0 and pd.isna(ev.at["v2", "fatalities"])
    assert ev.at["v1", "notes"] == "artillery fire on the village; https://a/1"
    assert ev.at["v1", "location_name"] == "Vuhledar"
    assert (ev.at["v1", "reliability"], ev.at["v1", "credibility"]) == ("C", 3)
    assert ev.at["v1", "report_group"] == "viina_test:v1"
    assert json.loads(ev.at["v1", "raw"]) == dict(zip(HEADER, ROWS[0], strict=True))
    assert ev["line_no"].to_dict() == {"v1": 2, "v2": 3, "v3": 4}
    # idempotent
    assert ingest_file(store, source, tmp_path / "t.csv").skipped_file
    write_csv(tmp_path / "again.csv", list(reversed(ROWS)))
    again = ingest_file(store, source, tmp_path / "again.csv")
    assert (again.loaded, again.unchanged) == (0, 3)


def test_csv_rows_quarantined_naming_column_and_value(tmp_path, store) -> None:
    rows = [
        ROWS[0],
        ["v4", "2023-01-05", *ROWS[0][2:]],
        ["v5", *ROWS[0][1:5], "t_naval", *ROWS[0][6:]],
        ["v6", *ROWS[0][1:4], "COUNTRY", *ROWS[0][5:]],
        ["v7", *ROWS[0][1:3], "95", *ROWS[0][4:]],
        ["v8", *ROWS[0][1:7], "-3", *ROWS[0][8:]],
        ["v9", *ROWS[0][1:8], "nato", *ROWS[0][9:]],
        ["", *ROWS[0][1:]],
    ]
    write_csv(tmp_path / "q.csv", rows)
    result = ingest_file(store, table_source(mapping(tmp_path)), tmp_path / "q.csv")
    assert (result.loaded, result.quarantined) == (1, 7)
    q = store.quarantine().set_index("line_no")["reason"].to_dict()
    assert q == {
        3: "time column 'date' value '2023-01-05' is not a time in format '%Y%m%d' "
        "(map.yaml: time.format)",
        4: "category column 'kind' value 't_naval' is not in the mapping's value table "
        "(map.yaml: category.values)",
        5: "location.precision_m column 'geo' value 'COUNTRY' is not in the mapping's value "
        "table (map.yaml: location.precision_m.values)",
        6: "lat column 'latitude' value '95' is not a number in [-90, 90]",
        7: "fatalities column 'deaths' value '-3' is not a number ≥ 0",
        8: "attributed_to column 'side' value 'nato' is not in the mapping's value table "
        "(map.yaml: attributed_to.values)",
        9: "id column 'event_id' is empty",
    }


def test_time_formats_zones_and_precision_tables(tmp_path, store) -> None:
    text = """\
source: times_test
id: id
time:
  column: t
  format: iso8601
  timezone: Europe/Kyiv
  precision: {column: p, values: {m: minute, d: day, w: week}, default: hour}
location: {lon: x, lat: y, precision_m: {column: r}}
category: shelling
report_group: source
"""
    rows = [
        ["a", "2023-06-01T10:30:00+00:00", "m", "37", "48", "250"],  # offset: as given
        ["b", "2023-06-01T10:30:00", "m", "37", "48", "250"],  # no offset: Kyiv (UTC+3)
        ["c", "2023-06-01T01:30:00+03:00", "d", "37", "48", "250"],  # a day: the local date
        ["d", "2023-06-01 10:30", "x", "37", "48", "250"],  # unknown code: the default
        ["e", "2023-06-01T10:30:00Z", "m", "37", "48", "0"],  # radius must be > 0
    ]
    write_csv(tmp_path / "t.csv", rows, ["id", "t", "p", "x", "y", "r"])
    result = ingest_file(store, table_source(mapping(tmp_path, text)), tmp_path / "t.csv")
    assert (result.loaded, result.quarantined) == (4, 1)
    ev = store.events().set_index("source_event_id")
    assert ev.at["a", "occurred_at"] == pd.Timestamp("2023-06-01T10:30:00Z")
    assert ev.at["b", "occurred_at"] == pd.Timestamp("2023-06-01T07:30:00Z")
    assert ev.at["c", "occurred_at"] == pd.Timestamp("2023-06-01T00:00:00Z")
    assert ev.at["c", "time_precision"] == "day"
    assert ev.at["d", "time_precision"] == "hour"
    assert ev["geo_precision_m"].unique().tolist() == [250.0]
    assert ev["report_group"].unique().tolist() == ["times_test"]
    assert store.quarantine()["reason"].tolist() == [
        "location.precision_m column 'r' value '0' is not a number > 0"
    ]


def test_unix_times_and_canonical_columns(tmp_path, store) -> None:
    text = """\
source: unix_test
id: id
time: {column: t, format: unix_s, precision: second}
location: {lon: x, lat: y, precision_m: 100}
category: {column: c}
weapon_class: {column: w}
report_group: {column: g}
"""
    rows = [
        ["a", "1685615400", "Shelling", "MLRS", "37", "48", "r1"],
        ["b", "1685615400.5", "drone_strike", "", "37", "48", "r1"],
        ["c", "soon", "shelling", "", "37", "48", "r2"],
        ["d", "1685615400", "bombardment", "", "37", "48", "r2"],
        ["e", "1685615400", "shelling", "catapult", "37", "48", "r2"],
    ]
    write_csv(tmp_path / "u.csv", rows, ["id", "t", "c", "w", "x", "y", "g"])
    result = ingest_file(store, table_source(mapping(tmp_path, text)), tmp_path / "u.csv")
    assert (result.loaded, result.quarantined) == (2, 3)
    ev = store.events().set_index("source_event_id")
    assert ev.at["a", "occurred_at"] == pd.Timestamp("2023-06-01T10:30:00Z")
    assert (ev.at["a", "category"], ev.at["a", "weapon_class"]) == ("shelling", "mlrs")
    assert pd.isna(ev.at["b", "weapon_class"])
    assert ev["report_group"].tolist() == ["unix_test:r1", "unix_test:r1"]
    reasons = store.quarantine()["reason"].tolist()
    assert reasons[0].startswith("time column 't' value 'soon' is not a time in format 'unix_s'")
    assert reasons[1].startswith("category column 'c' value 'bombardment' is not one of shelling")
    assert reasons[2].startswith("weapon_class column 'w' value 'catapult' is not one of small")


# --- GeoJSON, GeoPackage, GeoParquet, Parquet ------------------------------------------
GEO_MAPPING = MAPPING.replace("source: viina_test", "source: viina_geo").replace(
    "  lon: longitude\n  lat: latitude\n", "  geometry: true\n"
)


def _frame() -> gpd.GeoDataFrame:
    data = pd.DataFrame(ROWS, columns=HEADER)
    points = shapely.points(data["longitude"].astype(float), data["latitude"].astype(float))
    frame = gpd.GeoDataFrame(data.drop(columns=["longitude", "latitude"]), geometry=points)
    frame = frame.set_crs(4326)
    extra = frame.iloc[[0]].copy()
    extra["event_id"] = "v4"
    extra["geometry"] = [shapely.LineString([(37.5, 47.1), (37.6, 47.2)])]
    return gpd.GeoDataFrame(pd.concat([frame, extra], ignore_index=True), crs=4326)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "parquet", "parquet-3857"])
def test_geo_formats(tmp_path, store, fmt) -> None:
    frame = _frame()
    path = tmp_path / f"t.{fmt.split('-')[0]}"
    if fmt == "parquet-3857":
        frame.to_crs(3857).to_parquet(path)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    source = table_source(mapping(tmp_path, GEO_MAPPING))
    result = ingest_file(store, source, path)
    assert (result.loaded, result.quarantined) == (3, 1)
    ev = store.events(with_raw=True).set_index("source_event_id")
    assert ev["line_no"].to_dict() == {"v1": 1, "v2": 2, "v3": 3}  # feature numbers
    for i, row in enumerate(ROWS):
        assert ev.at[row[0], "lon"] == pytest.approx(float(row[2]), abs=1e-9)
        assert ev.at[row[0], "lat"] == pytest.approx(float(row[3]), abs=1e-9)
        assert ev.at[row[0], "category"] == ["shelling", "air_strike", "armed_clash"][i]
    raw = json.loads(ev.at["v1", "raw"])
    geom_key = {"geojson": "geometry", "gpkg": "geom"}.get(fmt, "geometry")
    assert raw.pop(geom_key).startswith("POINT (")
    assert raw == {
        k: v for k, v in zip(HEADER, ROWS[0], strict=True) if k not in ("longitude", "latitude")
    }
    q = store.quarantine().iloc[0]
    assert q["line_no"] == 4
    assert q["reason"].startswith(
        f"geometry '{geom_key if fmt != 'geojson' else 'wkb_geometry'}' is a LineString, not a point"
    )


def test_big_files_are_read_in_chunks(tmp_path, store) -> None:
    """GeoPackage (pyogrio Arrow batches) and GeoParquet (row batches) in chunks of 2:
    line numbers continue across chunks; typed columns are read as they are."""
    n = 7
    frame = gpd.GeoDataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "when": pd.date_range("2023-06-01 10:00", periods=n, freq="h"),  # naive: Kyiv
            "deaths": [float(i) for i in range(n)],
            "kind": ["t_artillery"] * n,
        },
        geometry=shapely.points([37.0 + i / 100 for i in range(n)], [48.0] * n),
        crs=4326,
    )
    text = """\
source: chunks_test
chunk_rows: 2
id: event_id
time: {column: when, precision: minute, timezone: Europe/Kyiv}
location: {geometry: true, precision_m: 1000}
category: {column: kind, values: {t_artillery: shelling}}
fatalities: deaths
"""
    source = table_source(mapping(tmp_path, text))
    for suffix in ("gpkg", "parquet"):
        path = tmp_path / f"big.{suffix}"
        frame.to_parquet(path) if suffix == "parquet" else frame.to_file(path)
        chunks = list(source.read_chunks(path))
        assert [len(c) for c, _ in chunks] == [2, 2, 2, 1]
        assert [int(x) for c, _ in chunks for x in c["line_no"]] == list(range(1, n + 1))
    result = ingest_file(store, source, tmp_path / "big.parquet")
    assert (result.loaded, result.quarantined) == (n, 0)
    ev = store.events().set_index("source_event_id")
    assert ev.at["e0", "occurred_at"] == pd.Timestamp("2023-06-01T07:00:00Z")
    assert ev.at["e6", "fatalities"] == 6.0
    # the GeoPackage holds the same records: no new event (its raw records name the
    # geometry column "geom", so they are new versions of the same events)
    again = ingest_file(store, source, tmp_path / "big.gpkg")
    assert (again.loaded, again.new_version, again.quarantined) == (0, n, 0)
    assert len(store.events()) == n


def test_plain_parquet_with_lon_lat_columns(tmp_path, store) -> None:
    table = pa.table({h: [r[i] for r in ROWS] for i, h in enumerate(HEADER)})
    table = table.set_column(2, "longitude", pa.array([float(r[2]) for r in ROWS]))
    table = table.set_column(3, "latitude", pa.array([float(r[3]) for r in ROWS]))
    pq.write_table(table, tmp_path / "plain.parquet")
    result = ingest_file(store, table_source(mapping(tmp_path)), tmp_path / "plain.parquet")
    assert (result.loaded, result.quarantined) == (3, 0)
    raw = json.loads(store.events(with_raw=True).set_index("source_event_id").at["v1", "raw"])
    assert raw["longitude"] == 37.55  # typed values stay typed in the raw record
    with pytest.raises(SourceFormatError, match="plain Parquet"):
        ingest_file(store, table_source(mapping(tmp_path, GEO_MAPPING)), tmp_path / "plain.parquet")


def test_mapping_object_can_be_built_in_code(tmp_path) -> None:
    doc = {
        "source": "inline",
        "id": "event_id",
        "time": {"column": "date", "format": "%Y%m%d", "precision": "day"},
        "location": {"lon": "longitude", "lat": "latitude", "precision_m": 1000},
        "category": "shelling",
    }
    m = TableMapping.from_dict(doc, path=tmp_path / "inline.yaml")
    assert (m.source, m.report_group, m.time_format) == ("inline", "record", "%Y%m%d")
    assert TableSource(m).name == "inline"
