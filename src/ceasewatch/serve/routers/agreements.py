"""``/api/agreements``: agreement versions, their geometry, and loading a new version."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Path, Response
from shapely.geometry import mapping

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import agreement_from_document
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.errors import NotFoundError
from ceasewatch.serve.auth import Admin, Ctx, Observer, actor_of, role_doc
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.serve.models import AgreementUpload, error_responses
from ceasewatch.serve.output import geojson_response, json_response, record
from ceasewatch.store.audit import append_audit, canonical_json

router = APIRouter(prefix="/api/agreements", tags=["agreements"])

_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.(geo)?json$")
#: display simplification of band outlines (degrees, ~50 m): enough for a web map
BAND_SIMPLIFY_DEG = 0.0005

VersionArg = Annotated[
    str, Path(pattern=r"^([0-9]{1,9}|latest)$", description="version number or 'latest'")
]

_AGREEMENT_COLS = ("version", "name", "effective", "loaded_at", "sha256", "label", "source_path")


def _resolve(ctx: ServeContext, version: str) -> int:
    con = ctx.reader()
    if version == "latest":
        row = con.execute("SELECT max(version) FROM agreements").fetchone()
        if row is None or row[0] is None:
            msg = "no agreement in the store yet: an admin loads one (POST /api/agreements)"
            raise NotFoundError(msg)
        return int(row[0])
    return int(version)


def _document(ctx: ServeContext, version: int) -> dict[str, Any]:
    import json

    row = (
        ctx.reader()
        .execute("SELECT document FROM agreements WHERE version = ?", [version])
        .fetchone()
    )
    if row is None:
        msg = f"agreement version {version} does not exist"
        raise NotFoundError(msg)
    doc: dict[str, Any] = json.loads(row[0])
    return doc


@router.get(
    "",
    summary="Agreement versions, oldest first",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403),
)
def list_agreements(ctx: Ctx, user: Observer) -> Response:
    rows = (
        ctx.reader()
        .execute(f"SELECT {', '.join(_AGREEMENT_COLS)} FROM agreements ORDER BY version")
        .fetchall()
    )
    return json_response({"agreements": [record(_AGREEMENT_COLS, r) for r in rows]})


@router.get(
    "/{version}",
    summary="One agreement version: its terms and geometry as stored",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 404, 422),
)
def get_agreement(ctx: Ctx, user: Observer, version: VersionArg) -> Response:
    v = _resolve(ctx, version)
    return json_response({"version": v, "document": _document(ctx, v)})


def geometry_collection(doc: dict[str, Any]) -> dict[str, Any]:
    """The agreement's map layers as one FeatureCollection (``kind`` property: line,
    band, control, sector)."""
    agreement = agreement_from_document(doc)
    feats: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": doc["line_of_contact"],
            "properties": {"kind": "line", "name": "line of contact"},
        }
    ]
    bands = ZoneModel(agreement).band_polygons()
    # widest first, so that narrower bands draw on top
    for zone_id, width_km, poly in sorted(bands, key=lambda b: -b[1]):
        feats.append(
            {
                "type": "Feature",
                "geometry": mapping(shapely.simplify(poly, BAND_SIMPLIFY_DEG)),
                "properties": {"kind": "band", "zone": zone_id, "width_km": width_km},
            }
        )
    for c in doc.get("control", []):
        feats.append(
            {
                "type": "Feature",
                "geometry": c["geometry"],
                "properties": {"kind": "control", "party": c["party"]},
            }
        )
    for s in doc.get("sectors", []):
        feats.append(
            {
                "type": "Feature",
                "geometry": s["geometry"],
                "properties": {"kind": "sector", "sector": s["sector"]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


@router.get(
    "/{version}/geometry",
    summary="Line of contact, zone bands, control areas and sectors as GeoJSON",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 404, 422),
)
def agreement_geometry(ctx: Ctx, user: Observer, version: VersionArg) -> Response:
    v = _resolve(ctx, version)
    key = (v, "geometry")
    if key not in ctx.geometry_cache:
        ctx.geometry_cache[key] = geometry_collection(_document(ctx, v))
    doc = dict(ctx.geometry_cache[key])
    doc["version"] = v
    return geojson_response(doc)


@router.post(
    "",
    status_code=201,
    summary="Load a new agreement version (admin): validated as `ceasewatch agreement load`",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 413, 422),
)
def load_agreement(ctx: Ctx, user: Admin, body: AgreementUpload) -> Response:
    bad = [n for n in body.files if not _FILE_RE.match(n)]
    if bad:
        msg = f"files: {', '.join(repr(n) for n in bad)} are not plain .geojson/.json names"
        raise InvalidRequestError(msg, detail={"bad_names": bad})
    with tempfile.TemporaryDirectory(prefix="ceasewatch-agreement-") as tmp:
        folder = FsPath(tmp)
        (folder / "agreement.yaml").write_text(body.agreement_yaml, encoding="utf-8")
        for name, content in body.files.items():
            (folder / name).write_text(canonical_json(content), encoding="utf-8")
        with ctx.write() as store:
            version, agreement = load_agreement_into(store, folder / "agreement.yaml")
            append_audit(
                store,
                actor=actor_of(user),
                action="agreement.load",
                entity="agreement",
                entity_id=str(version),
                payload={
                    "name": agreement.name,
                    "effective": agreement.effective.isoformat(),
                    "sha256": agreement.sha256,
                    "label": agreement.version_label,
                },
            )
    return json_response(
        {"version": version, "name": agreement.name, "sha256": agreement.sha256}, status_code=201
    )
