"""The zone model's fast structures kept on disk, one file per agreement geometry.

Building the structures of :class:`~ceasewatch.agreement.geometry.ZoneModel` (the fast
projection, the distance index and the side and sector rasters) takes 0.5-0.8 s for a
1,200 km line of 5,000 vertices; loading them back takes about 10 ms. They depend only on
the agreement's geometry (line, band widths, control areas, boundary, sectors), on the
code that builds them and on the libraries it calls, so each is kept under a key that
hashes all of these: a change to any of them is a different file, never a stale one.

- Location: ``$CEASEWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/ceasewatch``, else
  ``~/.cache/ceasewatch``; the files are in its ``zones/`` folder (created readable by
  its user only). ``CEASEWATCH_CACHE_DIR=off`` turns the cache off (nothing read or
  written). A file another user owns, or that others can write, is not read.
- Files are NumPy ``.npz`` archives read with ``allow_pickle=False``: loading one runs
  no code. A file that cannot be read, or whose recorded key or layout differs, counts as
  missing (it is rebuilt and replaced). Files are written whole, then renamed into place.
  The :data:`MAX_FILES` most recently used files are kept; older ones are deleted.
- The structures give the same answers as the exact computation whether built or loaded
  (``tests/agreement/test_zone_cache.py`` checks that a loaded model equals the built one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import tempfile
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import scipy
import shapely

import ceasewatch
from ceasewatch.agreement import geometry
from ceasewatch.normalize import crs as crs_module
from ceasewatch.paths import user_cache_dir

log = logging.getLogger(__name__)

#: the layout of the files (bump when the way structures are written changes)
FORMAT = "ceasewatch-zone-structures-1"
#: the model's cached properties kept on disk, in this order
STRUCTURES = ("fast_projection", "distance_index", "side_raster", "sector_raster")
#: the environment variable naming the cache folder ("off": no cache)
ENV = "CEASEWATCH_CACHE_DIR"
#: files kept (about 8 MB each for a 1,200 km line); the least recently used go first
MAX_FILES = 32

_NONE = "__none__"


def cache_dir() -> Path | None:
    """The folder of the zone structures, or None when the cache is off."""
    env = os.environ.get(ENV)
    if env is not None:
        if env.strip().lower() in ("", "off", "0", "none"):
            return None
        return Path(env).expanduser() / "zones"
    return user_cache_dir() / "zones"


def _code_digest() -> bytes:
    """The source of the modules that build the structures, and the versions of the
    libraries they call."""
    h = hashlib.sha256(FORMAT.encode())
    for module in (geometry, crs_module):
        try:
            h.update(Path(module.__file__ or "").read_bytes())
        except OSError:  # no source to read (a frozen install): the package's version
            h.update(f"{module.__name__} {ceasewatch.__version__}".encode())
    for v in (np.__version__, shapely.__version__, shapely.geos_version_string):
        h.update(v.encode() + b"\0")
    for v in (pyproj.__version__, pyproj.proj_version_str, scipy.__version__):
        h.update(v.encode() + b"\0")
    return h.digest()


_CODE: bytes | None = None


def cache_key(model: geometry.ZoneModel) -> str:
    """The hex key of ``model``'s structures: its geometry and the code that builds them."""
    global _CODE
    if _CODE is None:
        _CODE = _code_digest()
    a = model.agreement
    h = hashlib.sha256(_CODE)
    # the builders' settings as they are now (a caller may have changed one)
    for name, value in sorted(vars(geometry).items()):
        if name.isupper() and isinstance(value, int | float | str | dict):
            h.update(f"{name}={value!r}\0".encode())

    def geom(g: shapely.Geometry | None) -> None:
        h.update(b"-" if g is None else shapely.to_wkb(g, hex=False, include_srid=False))
        h.update(b"\0")

    geom(a.line)
    h.update(np.asarray(model.widths_km, dtype="<f8").tobytes())
    for group in (a.control, a.sectors):
        h.update(str(len(group)).encode() + b"\0")
        for label, g in group:
            h.update(label.encode() + b"\0")
            geom(g)
    geom(a.boundary)
    return h.hexdigest()


def path_of(model: geometry.ZoneModel) -> Path | None:
    """The file of ``model``'s structures (None: the cache is off)."""
    folder = cache_dir()
    return None if folder is None else folder / f"{cache_key(model)}.npz"


# --- (de)flattening of the structures' dataclasses -------------------------------------------


def _flatten(prefix: str, value: object, out: dict[str, np.ndarray]) -> None:
    if value is None:
        out[f"{prefix}.{_NONE}"] = np.zeros(0)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _flatten(f"{prefix}.{f.name}", getattr(value, f.name), out)
    else:
        out[prefix] = np.asarray(value)


def _unflatten(prefix: str, cls: Any, data: dict[str, np.ndarray]) -> Any:
    if f"{prefix}.{_NONE}" in data:
        return None
    hints = typing.get_type_hints(cls, vars(geometry))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}"
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _unflatten(key, hint, data)
            continue
        a = data[key]
        if hint in (int, float, bool, str):
            kwargs[f.name] = hint(a.item())
        elif typing.get_origin(hint) is tuple:
            kwargs[f.name] = tuple(a.tolist())
        else:
            kwargs[f.name] = a
    return cls(**kwargs)


def _classes() -> dict[str, Any]:
    """The class of each structure (its property's type, None allowed)."""
    out: dict[str, Any] = {}
    for name in STRUCTURES:
        prop = vars(geometry.ZoneModel)[name]
        ret = typing.get_type_hints(prop.func, vars(geometry))["return"]
        out[name] = next(t for t in typing.get_args(ret) or (ret,) if t is not type(None))
    return out


# --- load and save ---------------------------------------------------------------------------


def _trusted(path: Path) -> bool:
    """Whether ``path`` is this user's and no one else can write it (a file planted in a
    shared folder would be taken for the zones of its geometry)."""
    if not hasattr(os, "getuid"):  # (no owners to compare)
        return True
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def load(model: geometry.ZoneModel) -> bool:
    """Put ``model``'s structures from the cache into it; whether they were there."""
    path = path_of(model)
    if path is None or not path.is_file():
        return False
    if not _trusted(path):
        log.warning("zone cache file %s ignored: another user owns it, or can write it", path)
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if str(data.pop("__key__")) != path.stem or str(data.pop("__format__")) != FORMAT:
            return False
        built = {name: _unflatten(name, cls, data) for name, cls in _classes().items()}
    except Exception as exc:  # unreadable, truncated or of another layout: a miss
        log.warning("zone cache file %s ignored (%s: %s)", path, type(exc).__name__, exc)
        return False
    for name, value in built.items():
        model.__dict__.setdefault(name, value)
    with contextlib.suppress(OSError):  # recently used: kept longest (see :func:`prune`)
        os.utime(path)
    return True


def save(model: geometry.ZoneModel) -> Path | None:
    """Build whatever of ``model``'s structures is missing and write them all to the cache;
    the file, or None when the cache is off or cannot be written."""
    path = path_of(model)
    if path is None:
        return None
    out: dict[str, np.ndarray] = {
        "__key__": np.asarray(path.stem),
        "__format__": np.asarray(FORMAT),
    }
    for name in STRUCTURES:
        _flatten(name, getattr(model, name), out)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, allow_pickle=False, **out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only home, a full disk: evaluate without the cache
        log.warning("zone cache not written to %s (%s)", path, exc)
        return None
    prune(path.parent, keep=path)
    return path


def prune(folder: Path, *, keep: Path | None = None) -> list[Path]:
    """Delete all but the :data:`MAX_FILES` most recently used files of ``folder`` (and
    leftovers of interrupted writes older than an hour); the files deleted."""
    now = time.time()
    files: list[tuple[float, Path]] = []
    gone: list[Path] = []
    for p in folder.iterdir():
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        if p.name.startswith(".tmp-") and now - mtime > 3_600:
            gone.append(p)
        elif p.suffix == ".npz" and not p.name.startswith(".") and p != keep:
            files.append((mtime, p))
    files.sort(reverse=True)
    gone += [p for _, p in files[MAX_FILES - 1 :]]
    for p in gone:
        with contextlib.suppress(OSError):
            p.unlink()
    return gone


def ensure(model: geometry.ZoneModel) -> str:
    """Make ``model``'s structures available: "memory" (already built), "disk" (loaded
    from the cache) or "built" (built now; saved when the cache is on, unless a caller
    had set some of them: those are not the agreement's alone). What a caller set is kept
    over what the cache holds."""
    present = [name for name in STRUCTURES if name in model.__dict__]
    if len(present) == len(STRUCTURES):
        return "memory"
    if load(model):
        return "disk"
    for name in STRUCTURES:
        getattr(model, name)
    if not present:  # all built here from the agreement alone (none set by a caller)
        save(model)
    return "built"
