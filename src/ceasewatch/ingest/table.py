"""Any table of events with a YAML mapping of its columns to the canonical ones.

``ceasewatch ingest table FILE --mapping MAPPING.yaml`` reads CSV (streamed, like every
CSV source), GeoJSON and GeoPackage (through pyogrio's Arrow stream, in batches) and
(Geo)Parquet (``pyarrow.parquet.ParquetFile.iter_batches``). The mapping (documented in
``docs/table-mapping.md``) names the source, the id column, the time column with its format
and precision, the location (lon/lat columns or the point geometry), its precision in
metres, and how categories, weapon classes, grades and report groups are derived: each
either a constant or a column, optionally through an explicit value table.

The mapping is validated when it is loaded, every problem at once, each naming the mapping
file and the key; the columns it names are checked against the file's before any row is
read. Row problems go to quarantine like in every source: the line number is the physical
CSV line, or the 1-based feature/row number for the other formats.

The source name comes from the mapping, so this source is not in the registry: build it
with :func:`table_source` (or :class:`TableSource` from a :class:`TableMapping`).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml
from pyproj import CRS

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest import csvstream
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    registered_sources,
    rows_to_json,
    to_float,
)
from ceasewatch.ingest.csvstream import BadRow, ProgressFn
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.crs import to_wgs84

#: file formats and the suffixes that imply them
FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "csv": (".csv", ".txt"),
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "parquet": (".parquet", ".geoparquet", ".pq"),
}
#: time formats besides strftime patterns
TIME_FORMATS: Final = ("iso8601", "unix_s", "unix_ms")
REPORT_GROUPS: Final = ("record", "source")
_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEYS: Final = frozenset(
    {
        "source",
        "title",
        "format",
        "layer",
        "fallback_encoding",
        "chunk_rows",
        "id",
        "time",
        "location",
        "category",
        "weapon_class",
        "fatalities",
        "count",
        "actor",
        "attributed_to",
        "location_name",
        "admin1",
        "notes",
        "reliability",
        "credibility",
        "report_group",
    }
)
_TIME_KEYS: Final = frozenset({"column", "format", "timezone", "precision"})
_LOCATION_KEYS: Final = frozenset({"lon", "lat", "geometry", "precision_m"})
_VALUE_KEYS: Final = frozenset({"column", "values", "default", "text"})
# internal columns of a chunk read from a geometry (never part of the raw record)
_X, _Y, _GEOM_PROBLEM = "_geom_lon", "_geom_lat", "_geom_problem"
_INTERNAL: Final = frozenset({_X, _Y, _GEOM_PROBLEM, schema.LINE_NO, csvstream.FALLBACK_FIELDS})


@dataclass(frozen=True)
class ValueRule:
    """A canonical value: a constant, or a column's value, optionally through a table.

    With ``values`` a source value (as text, stripped) the table lacks takes ``default``;
    without a default the row is quarantined, naming the value. With ``text`` the value is
    read from the words of those columns (weapon classes only).
    """

    key: str
    constant: Any = None
    column: str | None = None
    values: dict[str, Any] | None = None
    default: Any = None
    text: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.column,) if self.column else ()) + self.text


@dataclass(frozen=True)
class TableMapping:
    """A validated mapping (see ``docs/table-mapping.md``); build with :meth:`load`."""

    path: Path
    source: str
    title: str
    id_column: str
    time_column: str
    time_format: str
    timezone: str
    time_precision: ValueRule
    precision_m: ValueRule
    category: ValueRule
    lon_column: str | None = None
    lat_column: str | None = None
    use_geometry: bool = False
    format: str | None = None
    layer: str | None = None
    fallback_encoding: str | None = "cp1252"
    chunk_rows: int = 50_000
    weapon_class: ValueRule | None = None
    attributed_to: ValueRule | None = None
    reliability: ValueRule | None = None
    credibility: ValueRule | None = None
    fatalities: str | None = None
    count: str | None = None
    actor: str | None = None
    location_name: str | None = None
    admin1: str | None = None
    notes: tuple[str, ...] = ()
    report_group: str = "record"
    report_group_column: str | None = None
    columns_by_key: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> TableMapping:
        """Read and validate a mapping file; every problem is reported at once."""
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            msg = f"mapping file {str(path)!r} cannot be read: {e}"
            raise IngestError(msg) from e
        except yaml.YAMLError as e:
            msg = f"{path.name} is not valid YAML: {e}"
            raise IngestError(msg) from e
        return cls.from_dict(doc, path=path)

    @classmethod
    def from_dict(cls, doc: object, *, path: Path) -> TableMapping:
        """Validate a parsed mapping; ``path`` names it in messages."""
        return _Validator(path).mapping(doc)

    def format_for(self, data: Path) -> str:
        if self.format:
            return self.format
        suffix = data.suffix.lower()
        for fmt, suffixes in FORMATS.items():
            if suffix in suffixes:
                return fmt
        msg = (
            f"{data.name}: cannot tell the format from the suffix {suffix!r}; set `format:` in "
            f"{self.path.name} to one of {', '.join(FORMATS)}"
        )
        raise IngestError(msg)


class _Validator:
    """Walks a parsed mapping and collects every problem as ``key: message``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.columns: dict[str, str] = {}

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def unknown(self, key: str, doc: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for k in sorted(set(doc) - allowed, key=str):
            where = f"{key}.{k}" if key else str(k)
            self.problem(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def column(self, key: str, value: object, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.problem(key, "is required (a column name)")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"{value!r} is not a column name")
            return None
        self.columns[key] = value
        return value

    def rule(
        self,
        key: str,
        doc: object,
        allowed: Mapping[Any, Any] | None,
        *,
        what: str,
        number: bool = False,
        text_ok: bool = False,
    ) -> ValueRule | None:
        """A constant or ``{column, values, default}``; constants and table values must be
        in ``allowed`` (or, with ``number``, numbers > 0)."""

        def check(sub: str, value: object) -> Any:
            if number:
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    self.problem(sub, f"{value!r} is not a number > 0 ({what})")
                    return None
                return float(value)
            canon = value.strip() if isinstance(value, str) else value
            if isinstance(canon, str) and allowed is not None and canon not in allowed:
                # case is not meaning: "Day", "b"; a grade may be written "3"
                for variant in (
                    canon.lower(),
                    canon.upper(),
                    int(canon) if canon.isdigit() else None,
                ):
                    if variant in allowed:
                        canon = variant
                        break
            if allowed is not None and canon not in allowed:
                self.problem(
                    sub, f"{value!r} is not {what} (allowed: {', '.join(map(str, allowed))})"
                )
                return None
            return canon

        if doc is None:
            return None
        if not isinstance(doc, dict):
            value = check(key, doc)
            return None if value is None else ValueRule(key, constant=value)
        self.unknown(key, doc, _VALUE_KEYS if text_ok else _VALUE_KEYS - {"text"})
        col = self.column(f"{key}.column", doc.get("column"))
        text: tuple[str, ...] = ()
        if text_ok and "text" in doc:
            cols = doc["text"] if isinstance(doc["text"], list) else [doc["text"]]
            text = tuple(c for i, c in enumerate(cols) if self.column(f"{key}.text[{i}]", c))
        if col is None and not text:
            if "column" not in doc:
                need = "`column`" + (" or `text`" if text_ok else "")
                self.problem(key, f"needs {need}, or a constant instead of a mapping")
            return None
        values = None
        if "values" in doc:
            table = doc["values"]
            if not isinstance(table, dict) or not table:
                self.problem(f"{key}.values", "is not a non-empty mapping of source value → value")
            else:
                values = {}
                for src, dst in table.items():
                    v = check(f"{key}.values.{src}", dst)
                    if v is not None:
                        values[_key_text(src)] = v
        default = check(f"{key}.default", doc["default"]) if "default" in doc else None
        # without a table, a column's values must already be canonical: checked per row
        return ValueRule(key, column=col, values=values, default=default, text=text)

    def mapping(self, doc: object) -> TableMapping:
        if not isinstance(doc, dict):
            self.problem("(top)", f"the mapping must be a YAML mapping, not {type(doc).__name__}")
            self.raise_if_any()
        assert isinstance(doc, dict)
        self.unknown("", doc, _KEYS)

        source = doc.get("source")
        if not isinstance(source, str) or not _SOURCE_NAME.fullmatch(source):
            self.problem(
                "source",
                f"{source!r} is not a source name (lower-case letters, digits, _; "
                "it becomes the events' `source`)",
            )
        elif source in registered_sources():
            self.problem(
                "source",
                f"{source!r} is a built-in source; give this table its own name so its "
                "ids never mix with that source's",
            )
        title = doc.get("title", source)
        fmt = doc.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.problem("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
        layer = doc.get("layer")
        if layer is not None and not isinstance(layer, str | int):
            self.problem("layer", f"{layer!r} is not a layer name or index")
        fallback = doc.get("fallback_encoding", "cp1252")
        if fallback is not None:
            try:
                codecs.lookup(str(fallback))
            except LookupError:
                self.problem("fallback_encoding", f"{fallback!r} is not a known encoding")
        chunk_rows = doc.get("chunk_rows", 50_000)
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            self.problem("chunk_rows", f"{chunk_rows!r} is not a whole number ≥ 1")
            chunk_rows = 50_000

        id_col = self.column("id", doc.get("id"), required=True)

        time_doc = doc.get("time")
        time_col = time_fmt = None
        tz = "UTC"
        precision = None
        if not isinstance(time_doc, dict):
            self.problem("time", "is required: {column, format, precision[, timezone]}")
        else:
            self.unknown("time", time_doc, _TIME_KEYS)
            time_col = self.column("time.column", time_doc.get("column"), required=True)
            time_fmt = time_doc.get("format", "iso8601")
            if not isinstance(time_fmt, str) or (
                time_fmt not in TIME_FORMATS and "%" not in time_fmt
            ):
                self.problem(
                    "time.format",
                    f"{time_fmt!r} is not a strftime pattern (e.g. '%d/%m/%Y') or one of "
                    f"{', '.join(TIME_FORMATS)}",
                )
            tz = time_doc.get("timezone", "UTC")
            try:
                ZoneInfo(str(tz))
            except (ZoneInfoNotFoundError, ValueError):
                self.problem("time.timezone", f"{tz!r} is not a time zone (e.g. Europe/Kyiv)")
            if "precision" not in time_doc:
                self.problem(
                    "time.precision",
                    f"is required: one of {', '.join(schema.TIME_PRECISIONS)} or a column",
                )
            precision = self.rule(
                "time.precision",
                time_doc.get("precision"),
                dict.fromkeys(schema.TIME_PRECISIONS),
                what="a time precision",
            )

        loc = doc.get("location")
        lon_col = lat_col = None
        use_geometry = False
        precision_m = None
        if not isinstance(loc, dict):
            self.problem("location", "is required: {lon, lat, precision_m} or {geometry: true, …}")
        else:
            self.unknown("location", loc, _LOCATION_KEYS)
            use_geometry = loc.get("geometry", False) is True
            if "geometry" in loc and not isinstance(loc["geometry"], bool):
                self.problem("location.geometry", f"{loc['geometry']!r} is not true or false")
            lon_col = self.column("location.lon", loc.get("lon"))
            lat_col = self.column("location.lat", loc.get("lat"))
            if use_geometry and (lon_col or lat_col):
                self.problem("location", "give either lon/lat columns or geometry: true, not both")
            elif not use_geometry and not (lon_col and lat_col):
                self.problem("location", "needs both lon and lat columns, or geometry: true")
            if use_geometry and fmt == "csv":
                self.problem("location.geometry", "a CSV file has no geometry; map lon and lat")
            if "precision_m" not in loc:
                self.problem("location.precision_m", "is required: metres (a number or a column)")
            precision_m = self.rule(
                "location.precision_m",
                loc.get("precision_m"),
                None,
                what="a radius in metres",
                number=True,
            )

        if "category" not in doc:
            self.problem("category", "is required: a category or {column, values[, default]}")
        category = self.rule(
            "category", doc.get("category"), dict.fromkeys(schema.CATEGORIES), what="a category"
        )
        weapon = self.rule(
            "weapon_class",
            doc.get("weapon_class"),
            dict.fromkeys(schema.WEAPON_CLASSES),
            what="a weapon class",
            text_ok=True,
        )
        attributed = self.rule("attributed_to", doc.get("attributed_to"), None, what="a party")
        reliability = self.rule(
            "reliability",
            doc.get("reliability"),
            dict.fromkeys(schema.RELIABILITY_GRADES),
            what="a reliability grade",
        )
        credibility = self.rule(
            "credibility",
            doc.get("credibility"),
            dict.fromkeys(schema.CREDIBILITY_GRADES),
            what="a credibility grade",
        )
        single = {
            k: self.column(k, doc.get(k))
            for k in ("fatalities", "count", "actor", "location_name", "admin1")
        }
        notes_doc = doc.get("notes", [])
        notes_list = notes_doc if isinstance(notes_doc, list) else [notes_doc]
        notes = tuple(
            c for i, c in enumerate(notes_list) if self.column(f"notes[{i}]", c) is not None
        )
        group_doc = doc.get("report_group", "record")
        group, group_col = "record", None
        if isinstance(group_doc, dict):
            self.unknown("report_group", group_doc, frozenset({"column"}))
            group_col = self.column("report_group.column", group_doc.get("column"), required=True)
            group = "column"
        elif group_doc in REPORT_GROUPS:
            group = str(group_doc)
        else:
            self.problem(
                "report_group",
                f"{group_doc!r} is not record, source or {{column: …}} (record: every record "
                "its own report; source: the source already merged its duplicates)",
            )
        self.raise_if_any()
        assert isinstance(source, str) and id_col and time_col and isinstance(time_fmt, str)
        assert precision and precision_m and category
        return TableMapping(
            path=self.path,
            source=source,
            title=str(title),
            id_column=id_col,
            time_column=time_col,
            time_format=time_fmt,
            timezone=str(tz),
            time_precision=precision,
            precision_m=precision_m,
            category=category,
            lon_column=lon_col,
            lat_column=lat_col,
            use_geometry=use_geometry,
            format=fmt,
            layer=layer,
            fallback_encoding=None if fallback is None else str(fallback),
            chunk_rows=int(chunk_rows),
            weapon_class=weapon,
            attributed_to=attributed,
            reliability=reliability,
            credibility=credibility,
            fatalities=single["fatalities"],
            count=single["count"],
            actor=single["actor"],
            location_name=single["location_name"],
            admin1=single["admin1"],
            notes=notes,
            report_group=group,
            report_group_column=group_col,
            columns_by_key=dict(self.columns),
        )

    def raise_if_any(self) -> None:
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = (
                f"{self.path.name}: {len(self.problems)} problem(s) in the table mapping "
                f"(see docs/table-mapping.md):\n{lines}"
            )
            raise IngestError(msg)


def _key_text(value: object) -> str:
    """A table key or a cell as the text it is matched by (1.0 and 1 are both "1")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as stripped text: nulls "", whole floats without ".0", times in ISO 8601."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.map(lambda t: t.isoformat() if pd.notna(t) else "")
        return out.astype(object)
    if pd.api.types.is_float_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else _key_text(float(v))).astype(object)
    if pd.api.types.is_bool_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else str(bool(v)).lower()).astype(object)
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64").astype(str).replace("<NA>", "").astype(object)
    if values.dtype == object and values.map(lambda v: isinstance(v, bytes)).any():
        values = values.map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
    return values.astype(str).fillna("").str.strip().astype(object)


class TableSource(EventSource):
    """Events from any table through a :class:`TableMapping`."""

    name = "table"
    title = "table with a mapping"
    required_columns = frozenset()

    def __init__(self, mapping: TableMapping) -> None:
        self.mapping = mapping
        # the mapping names the source (EventSource declares these per class)
        self.name = mapping.source  # type: ignore[misc]
        self.title = f"{mapping.title} (mapping {mapping.path.name})"  # type: ignore[misc]
        self.required_columns = frozenset(mapping.columns_by_key.values())  # type: ignore[misc]

    # --- reading ---------------------------------------------------------------------
    def _check_columns(self, data: Path, columns: list[str]) -> None:
        have = set(columns)
        missing = [(k, c) for k, c in self.mapping.columns_by_key.items() if c not in have]
        if missing:
            listed = ", ".join(f"{k} {c!r}" for k, c in missing)
            shown = ", ".join(columns[:12]) + (" …" if len(columns) > 12 else "")
            msg = (
                f"{data.name} lacks the column(s) that {self.mapping.path.name} names: "
                f"{listed} (found: {shown}). Check the mapping or the file."
            )
            raise SourceFormatError(msg)

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        fmt = self.mapping.format_for(path)
        if fmt == "csv":
            if self.mapping.use_geometry:
                msg = f"{path.name} is CSV: it has no geometry; map location.lon and .lat"
                raise SourceFormatError(msg)
            header = csvstream.read_header(path)
            self._check_columns(path, header)
            yield from csvstream.iter_csv_chunks(
                path, header, on_read=on_read, fallback_encoding=self.mapping.fallback_encoding
            )
        elif fmt == "parquet":
            yield from self._read_parquet(path, on_read)
        else:
            yield from self._read_ogr(path, fmt, on_read)

    def _read_ogr(
        self, path: Path, fmt: str, on_read: ProgressFn | None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        import pyogrio

        try:
            ctx = pyogrio.open_arrow(
                path, layer=self.mapping.layer, batch_size=self.mapping.chunk_rows, use_pyarrow=True
            )
            meta, reader = ctx.__enter__()
        except Exception as e:  # pyogrio raises its own DataSourceError / DataLayerError
            msg = f"{path.name}: cannot read with GDAL/OGR: {e}"
            raise IngestError(msg) from e
        try:
            geom = str(meta.get("geometry_name") or "wkb_geometry")
            props = [str(f) for f in meta["fields"]]
            self._check_columns(path, props)
            crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
            start = 1
            for batch in reader:
                frame = self._arrow_frame(batch, geom if geom in batch.schema.names else None, crs)
                if fmt == "geojson" and geom in frame and "geometry" not in frame:
                    # the raw record says "geometry", as the GeoJSON feature did
                    frame = frame.rename(columns={geom: "geometry"})
                frame[schema.LINE_NO] = np.arange(start, start + len(frame), dtype=np.int64)
                start += len(frame)
                yield frame, []
            if on_read is not None:
                on_read(path.stat().st_size)
        finally:
            ctx.__exit__(None, None, None)

    def _read_parquet(
        self, path: Path, on_read: ProgressFn | None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        import json

        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as e:
            msg = f"{path.name}: cannot read as Parquet: {e}"
            raise IngestError(msg) from e
        names = pf.schema_arrow.names
        geo_meta = (pf.metadata.metadata or {}).get(b"geo")
        geom = crs = None
        if geo_meta:
            geo = json.loads(geo_meta)
            geom = geo.get("primary_column")
            info = geo.get("columns", {}).get(geom, {})
            if str(info.get("encoding", "WKB")).upper() != "WKB":
                msg = (
                    f"{path.name}: GeoParquet geometry encoding {info.get('encoding')!r} is "
                    "not read; write it as WKB (geopandas' default)"
                )
                raise SourceFormatError(msg)
            # GeoParquet: a column without "crs" is OGC:CRS84 (lon/lat)
            crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
        if self.mapping.use_geometry and geom is None:
            msg = f"{path.name} is plain Parquet (no 'geo' metadata): map location.lon and .lat"
            raise SourceFormatError(msg)
        self._check_columns(path, [n for n in names if n != geom])
        start = 1
        total = path.stat().st_size
        n_groups = max(pf.num_row_groups, 1)
        for i, batch in enumerate(pf.iter_batches(batch_size=self.mapping.chunk_rows)):
            frame = self._arrow_frame(batch, geom, crs)
            frame[schema.LINE_NO] = np.arange(start, start + len(frame), dtype=np.int64)
            start += len(frame)
            if on_read is not None and i < n_groups:
                on_read(total // n_groups)
            yield frame, []

    def _arrow_frame(
        self, batch: pa.RecordBatch, geom: str | None, crs: CRS | None
    ) -> pd.DataFrame:
        """Properties as a frame; the geometry as WKT (raw record) and, when the mapping
        locates by geometry, as lon/lat of its point."""
        import shapely

        cols = [n for n in batch.schema.names if n != geom]
        frame = (
            batch.select(cols).to_pandas() if cols else pd.DataFrame(index=range(batch.num_rows))
        )
        frame = frame.reset_index(drop=True)
        if geom is None:
            return frame
        wkb = batch.column(batch.schema.get_field_index(geom)).to_numpy(zero_copy_only=False)
        shapes = shapely.from_wkb(wkb, on_invalid="ignore")
        frame[geom] = pd.Series(shapely.to_wkt(shapes), dtype=object).where(pd.notna(shapes), "")
        if self.mapping.use_geometry:
            kind = shapely.get_type_id(shapes)
            point = kind == shapely.GeometryType.POINT
            empty = pd.isna(shapes) | shapely.is_empty(shapes)
            x = np.where(point & ~empty, shapely.get_x(shapes), np.nan)
            y = np.where(point & ~empty, shapely.get_y(shapes), np.nan)
            if crs is not None and not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
                x, y = to_wgs84(x, y, crs)
            names = pd.Series(shapely.get_type_id(shapes)).map(
                {int(t): t.name.title().replace("string", "String") for t in shapely.GeometryType}
            )
            problem = np.where(
                empty,
                f"geometry '{geom}' is empty or missing",
                np.where(
                    point,
                    "",
                    f"geometry '{geom}' is a "
                    + names.fillna("?").astype(str)
                    + ", not a point (only points are read: a representative point would "
                    "hide the extent)",
                ),
            )
            frame[_X], frame[_Y], frame[_GEOM_PROBLEM] = x, y, problem
        return frame

    # --- normalizing -----------------------------------------------------------------
    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        m = self.mapping
        cols = [c for c in raw.columns if c not in _INTERNAL]
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)
        text: dict[str, pd.Series] = {}

        def txt(col: str) -> pd.Series:
            if col not in text:
                text[col] = _as_text(raw[col]) if col in raw else pd.Series("", index=raw.index)
            return text[col]

        def say(col: str) -> str:
            return f"column '{col}'"

        ident = txt(m.id_column)
        checks.flag(ident == "", f"id {say(m.id_column)} is empty")

        when = self._times(raw[m.time_column], txt(m.time_column))
        checks.flag(
            when.isna(),
            f"time {say(m.time_column)} value '"
            + txt(m.time_column)
            + f"' is not a time in format {m.time_format!r} ({m.path.name}: time.format)",
        )
        precision = self._rule(m.time_precision, txt, checks)
        when = _local_dates(when, precision, m.timezone)

        if m.use_geometry:
            lon = raw[_X].astype(float) if _X in raw else pd.Series(np.nan, index=raw.index)
            lat = raw[_Y].astype(float) if _Y in raw else pd.Series(np.nan, index=raw.index)
            problem = (
                raw[_GEOM_PROBLEM]
                if _GEOM_PROBLEM in raw
                else pd.Series("geometry is missing", index=raw.index)
            )
            checks.flag(problem != "", problem)
            checks.flag(
                lat.abs() > 90,
                "geometry latitude '" + lat.astype(str) + "' is not in [-90, 90] (check the CRS)",
            )
            checks.flag(
                lon.abs() > 180,
                "geometry longitude '"
                + lon.astype(str)
                + "' is not in [-180, 180] (check the CRS)",
            )
        else:
            assert m.lon_column and m.lat_column
            lon = to_float(txt(m.lon_column))
            lat = to_float(txt(m.lat_column))
            checks.flag(
                lat.isna() | (lat.abs() > 90),
                f"lat {say(m.lat_column)} value '"
                + txt(m.lat_column)
                + "' is not a number in [-90, 90]",
            )
            checks.flag(
                lon.isna() | (lon.abs() > 180),
                f"lon {say(m.lon_column)} value '"
                + txt(m.lon_column)
                + "' is not a number in [-180, 180]",
            )
        radius = self._rule(m.precision_m, txt, checks, number=True)

        category = self._rule(m.category, txt, checks, allowed=schema.CATEGORIES)
        weapon = (
            self._rule(m.weapon_class, txt, checks, allowed=schema.WEAPON_CLASSES, optional=True)
            if m.weapon_class
            else pd.Series(pd.NA, index=raw.index, dtype="object")
        )
        attributed = (
            self._rule(m.attributed_to, txt, checks, optional=True)
            if m.attributed_to
            else pd.Series(pd.NA, index=raw.index, dtype="object")
        )
        default_rel, default_cred = vocab.DEFAULT_GRADES["table"]
        rel = (
            self._rule(m.reliability, txt, checks, allowed=schema.RELIABILITY_GRADES)
            if m.reliability
            else pd.Series(default_rel, index=raw.index)
        )
        cred = (
            self._rule(
                m.credibility, txt, checks, allowed=tuple(map(str, schema.CREDIBILITY_GRADES))
            )
            if m.credibility
            else pd.Series(default_cred, index=raw.index)
        )

        fatalities = pd.Series(np.nan, index=raw.index)
        if m.fatalities:
            fatalities = to_float(txt(m.fatalities))
            checks.flag(
                (txt(m.fatalities) != "") & (fatalities.isna() | (fatalities < 0)),
                f"fatalities {say(m.fatalities)} value '"
                + txt(m.fatalities)
                + "' is not a number ≥ 0",
            )
        count = pd.Series(1.0, index=raw.index)
        if m.count:
            count = to_float(txt(m.count).replace("", "1"))
            checks.flag(
                count.isna() | (count < 1) | (count != np.floor(count)) | (count > 1e9),
                f"count {say(m.count)} value '"
                + txt(m.count)
                + "' is not a whole number in 1-10^9",
            )

        if m.report_group == "source":
            group = pd.Series(m.source, index=raw.index)
        elif m.report_group == "column":
            assert m.report_group_column
            group = m.source + ":" + txt(m.report_group_column)
        else:
            group = m.source + ":" + ident

        def opt(col: str | None) -> pd.Series:
            if not col:
                return pd.Series(pd.NA, index=raw.index, dtype="object")
            s = txt(col)
            return s.where(s != "", pd.NA)

        parts = [txt(c) for c in m.notes]
        if csvstream.FALLBACK_FIELDS in raw:
            decoded = raw[csvstream.FALLBACK_FIELDS].astype(str)
            parts.append(
                pd.Series(
                    np.where(
                        decoded != "",
                        f"not UTF-8, read as {m.fallback_encoding}: "
                        + decoded.str.replace(",", ", "),
                        "",
                    ),
                    index=raw.index,
                )
            )
        notes = pd.Series(pd.NA, index=raw.index, dtype="object")
        if parts:
            joined = parts[0]
            for p in parts[1:]:
                joined = joined + np.where((joined != "") & (p != ""), "; ", "") + p
            notes = joined.where(joined != "", pd.NA)

        ok = checks.ok.to_numpy()
        events = pd.DataFrame(
            {
                schema.SOURCE: m.source,
                schema.SOURCE_EVENT_ID: ident,
                schema.OCCURRED_AT: when,
                schema.TIME_PRECISION: precision,
                schema.TIME_WINDOW_S: 0.0,
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: pd.to_numeric(radius, errors="coerce"),
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon,
                schema.ACTOR: opt(m.actor),
                schema.ATTRIBUTED_TO: attributed,
                schema.FATALITIES: fatalities,
                schema.COUNT: count.where(checks.ok, 1).fillna(1).astype("int64"),
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: pd.to_numeric(cred, errors="coerce").fillna(6).astype("int64"),
                schema.REPORT_GROUP: group,
                schema.LOCATION_NAME: opt(m.location_name),
                schema.ADMIN1: opt(m.admin1),
                schema.NOTES: notes,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])

    def _times(self, values: pd.Series, text: pd.Series) -> pd.Series:
        """The time column as UTC; times without offset are in the mapping's time zone."""
        m = self.mapping
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
        if pd.api.types.is_datetime64_any_dtype(values):
            typed = pd.Series(values)
            if typed.dt.tz is None:
                typed = typed.dt.tz_localize(m.timezone, ambiguous="NaT", nonexistent="NaT")
            return typed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        if m.time_format in ("unix_s", "unix_ms"):
            number = to_float(text)
            unit = "s" if m.time_format == "unix_s" else "ms"
            # beyond ±9.2e9 s (year 2262) a time does not fit pandas' nanoseconds
            limit = 9.2e9 * (1_000 if unit == "ms" else 1)
            finite = number.notna() & (number.abs() < limit)
            out[finite] = pd.to_datetime(number[finite], unit=unit, utc=True).astype(
                "datetime64[us, UTC]"
            )
            return out
        if m.time_format == "iso8601":
            # ISO 8601 text may or may not end in an offset, row by row
            has_offset = text.str.contains(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$", regex=True)
            fmt = "ISO8601"
        else:
            # a strftime pattern says it: %z / %Z read an offset, anything else is local
            aware_format = "%z" in m.time_format or "%Z" in m.time_format
            has_offset = pd.Series(aware_format, index=text.index)
            fmt = m.time_format
        for aware in (True, False):
            part = text[has_offset == aware]
            part = part[part != ""]
            if part.empty:
                continue
            parsed = pd.to_datetime(part, format=fmt, errors="coerce", utc=aware)
            if not aware:
                if getattr(parsed.dt, "tz", None) is None:
                    parsed = parsed.dt.tz_localize(m.timezone, ambiguous="NaT", nonexistent="NaT")
                parsed = parsed.dt.tz_convert("UTC")
            out[parsed.index] = parsed.astype("datetime64[us, UTC]")
        return out

    def _rule(
        self,
        rule: ValueRule,
        txt: Any,
        checks: RowChecks,
        *,
        allowed: tuple[Any, ...] | None = None,
        number: bool = False,
        optional: bool = False,
    ) -> pd.Series:
        """A rule's value per row; rows it cannot give a value are flagged."""
        index = checks.reason.index
        where = f"{self.mapping.path.name}: {rule.key}"
        if rule.constant is not None:
            return pd.Series([rule.constant] * len(index), index=index, dtype=object)
        if rule.text:
            words = txt(rule.text[0])
            for c in rule.text[1:]:
                words = words + " | " + txt(c)
            return vocab.weapon_class_from_text(words)
        assert rule.column is not None
        src = txt(rule.column)
        blank_ok = (src == "") & optional
        if rule.values is not None:
            out = src.map(rule.values)
            if rule.default is not None:
                out = out.where(out.notna() | blank_ok, rule.default)
            missing = out.isna() & ~blank_ok
            checks.flag(
                missing,
                f"{rule.key} column '{rule.column}' value '"
                + src
                + f"' is not in the mapping's value table ({where}.values)",
            )
            return out.where(src != "", pd.NA) if optional else out
        if number:
            value = to_float(src)
            checks.flag(
                value.isna() | (value <= 0) | np.isinf(value),
                f"{rule.key} column '{rule.column}' value '" + src + "' is not a number > 0",
            )
            return value
        canon = src
        if allowed is not None:
            lowered = src.str.lower()
            upper = src.str.upper()
            canon = lowered.where(lowered.isin(allowed), upper.where(upper.isin(allowed), src))
            bad = ~canon.isin(allowed) & ~blank_ok
            shown = ", ".join(map(str, allowed))
            checks.flag(
                bad,
                f"{rule.key} column '{rule.column}' value '"
                + src
                + f"' is not one of {shown} (map it with {where}.values)",
            )
        return canon.where(src != "", pd.NA) if optional else canon


#: precisions of a calendar date or coarser: stored as the local date's wall time in UTC
_DATE_PRECISIONS: Final = frozenset({"day", "week", "month", "year"})


def _local_dates(when: pd.Series, precision: pd.Series, timezone: str) -> pd.Series:
    """Times known to a day or coarser as the local date at 00:00 UTC (a day) or the local
    wall time read as UTC (the middle of a week, month, year), as ``normalize.timeprec``
    expects: a day is the local day, opened 3 h early for zones east of UTC."""
    coarse = precision.isin(_DATE_PRECISIONS) & when.notna()
    if not coarse.any():
        return when
    wall = when[coarse].dt.tz_convert(timezone).dt.tz_localize(None)
    day = precision[coarse] == "day"
    wall = wall.where(~day, wall.dt.normalize())
    out = when.copy()
    out[coarse] = wall.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    return out


def table_source(mapping_path: Path | str) -> EventSource:
    """The source a mapping file describes (validated now; see ``docs/table-mapping.md``)."""
    return TableSource(TableMapping.load(mapping_path))
