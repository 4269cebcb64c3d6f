"""Rows out as GeoJSON or CSV, chosen by ``?format=`` or the ``Accept`` header.

A page of a list is a GeoJSON FeatureCollection of points (RFC 7946, WGS84 lon/lat) with
the foreign members ``next_cursor`` and ``count``, or CSV with the cursor in the
``X-Next-Cursor`` header; both carry a ``Link: <…>; rel="next"`` header while there is
more.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from fastapi import Request, Response

from ceasewatch.normalize import schema

if TYPE_CHECKING:
    from ceasewatch.serve.snapshot import Table as SnapshotTable

GEOJSON_MEDIA: Final = "application/geo+json"
CSV_MEDIA: Final = "text/csv; charset=utf-8"

#: ';'-joined text columns that become JSON lists
LIST_COLUMNS: Final = frozenset(
    {
        "sources",
        "rules",
        "categories",
        "weapon_classes",
        schema.EVIDENCE_EVENT_IDS,
        "matched_event_ids",
    }
)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def json_value(value: Any, column: str = "") -> Any:
    """A stored value as JSON: ISO times, NaN as null, ';' lists as lists."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if column in LIST_COLUMNS and isinstance(value, str):
        return [v for v in value.split(";") if v]
    return value


def record(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {c: json_value(v, c) for c, v in zip(columns, row, strict=True)}


def choose_format(request: Request, explicit: str | None) -> str:
    """``geojson`` or ``csv``: the explicit parameter wins, then the Accept header."""
    if explicit:
        return explicit
    accept = request.headers.get("accept", "")
    if "text/csv" in accept and "json" not in accept:
        return "csv"
    return "geojson"


def _link(request: Request, next_cursor: str | None) -> dict[str, str]:
    if not next_cursor:
        return {}
    url = request.url.include_query_params(cursor=next_cursor)
    return {"Link": f'<{url}>; rel="next"', "X-Next-Cursor": next_cursor}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def feature(columns: Sequence[str], row: Sequence[Any], id_column: str) -> dict[str, Any]:
    props = record(columns, row)
    lon, lat = props.get(schema.LON), props.get(schema.LAT)
    geometry = {"type": "Point", "coordinates": [lon, lat]} if lon is not None else None
    return {"type": "Feature", "id": props[id_column], "geometry": geometry, "properties": props}


def page_response(
    request: Request,
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    id_column: str,
    next_cursor: str | None,
) -> Response:
    """One page of rows as a FeatureCollection or CSV."""
    headers = _link(request, next_cursor)
    if fmt == "csv":
        return Response(csv_text(columns, rows), media_type=CSV_MEDIA, headers=headers)
    features = [feature(columns, row, id_column) for row in rows]
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "count": len(features),
        "next_cursor": next_cursor,
    }
    return Response(dumps(doc), media_type=GEOJSON_MEDIA, headers=headers)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                "" if v is None or (isinstance(v, float) and math.isnan(v)) else json_csv(v)
                for v in row
            ]
        )
    return buf.getvalue()


def snapshot_page_response(
    request: Request,
    fmt: str,
    table: SnapshotTable,
    positions: Iterable[int],
    next_cursor: str | None,
) -> Response:
    """One page of snapshot rows (see :mod:`ceasewatch.serve.snapshot`): features
    serialized once per row and joined, or CSV."""
    headers = _link(request, next_cursor)
    if fmt == "csv":
        text = csv_text(table.spec.columns, (table.row(int(i)) for i in positions))
        return Response(text, media_type=CSV_MEDIA, headers=headers)
    features = [table.feature_json(int(i)) for i in positions]
    body = b"".join(
        (
            b'{"type":"FeatureCollection","features":[',
            b",".join(features),
            b'],"count":',
            str(len(features)).encode(),
            b',"next_cursor":',
            orjson.dumps(next_cursor),
            b"}",
        )
    )
    return Response(body, media_type=GEOJSON_MEDIA, headers=headers)


def json_csv(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


def json_response(doc: Any, status_code: int = 200) -> Response:
    return Response(dumps(doc), status_code=status_code, media_type="application/json")


def geojson_response(doc: Any) -> Response:
    return Response(dumps(doc), media_type=GEOJSON_MEDIA)
