"""Where ceasewatch keeps files of its own outside the store (imports nothing heavy: the
compiled kernels call it before numba is loaded)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """The user's cache folder for ceasewatch: ``$XDG_CACHE_HOME/ceasewatch``, else
    ``~/.cache/ceasewatch`` (each kind of cache in a folder of its own inside)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ceasewatch"
