"""Time precision: how exactly a source knows when something happened.

An event's time is ``occurred_at`` as the source gives it, at the source's precision, plus
an optional explicit window ``time_window_s`` (a monitor's observation window, a UCDP
date span). :func:`time_bounds` turns both into the interval within which it happened.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ceasewatch.normalize.vocab import lookup

_DAY = 86_400.0

#: seconds before / after ``occurred_at`` that each precision code leaves open.
#: day: the source's date, stored as 00:00 UTC of that date, is a local date east of UTC
#: (Kyiv is UTC+2/+3), so the day opens 3 h before; week/month/year: the source gives the
#: middle of the period (ACLED's convention for time_precision 2-3).
PRECISION_SPAN_S: Final[dict[str, tuple[float, float]]] = {
    "second": (0.0, 1.0),
    "minute": (0.0, 60.0),
    "hour": (0.0, 3_600.0),
    "day": (3 * 3_600.0, _DAY),
    "week": (3.5 * _DAY, 3.5 * _DAY),
    "month": (15.5 * _DAY, 15.5 * _DAY),
    "year": (183.0 * _DAY, 183.0 * _DAY),
}

#: how many characters of an ISO 8601 timestamp a precision deserves in exports
PRECISION_ISO_FORMAT: Final[dict[str, str]] = {
    "second": "%Y-%m-%dT%H:%M:%SZ",
    "minute": "%Y-%m-%dT%H:%MZ",
    "hour": "%Y-%m-%dT%HZ",
    "day": "%Y-%m-%d",
    "week": "%Y-%m-%d",
    "month": "%Y-%m",
    "year": "%Y",
}


def time_bounds(
    occurred_at_s: npt.NDArray[np.float64],
    precision: npt.ArrayLike,
    window_s: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Interval within which each event happened.

    Parameters
    ----------
    occurred_at_s
        Event times as seconds since the Unix epoch (UTC).
    precision
        Time precision codes (see ``schema.TIME_PRECISIONS``).
    window_s
        Explicit observation window after ``occurred_at`` in seconds (0 when none).

    Returns
    -------
    lo, hi
        Bounds in seconds since the epoch, inclusive.
    """
    # a code not in the table, or none, spans nothing
    spans = lookup(precision, PRECISION_SPAN_S, (0.0, 0.0))
    before, after = spans[:, 0], spans[:, 1]
    lo = occurred_at_s - before
    hi = occurred_at_s + np.maximum(after, np.nan_to_num(window_s))
    return lo, hi
