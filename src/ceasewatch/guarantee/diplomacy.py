"""Diplomacy: the meetings of the working group and the parties next to violation counts.

Pure functions over the ``meetings`` table and a violations frame.
"""

from __future__ import annotations

from datetime import date

import pandas as pd


def meetings_timeline(
    meetings: pd.DataFrame,
    violations: pd.DataFrame,
    *,
    freq: str = "W",
    tz: str = "Europe/Kyiv",
) -> pd.DataFrame:
    """Violations per period (``W`` weeks starting Monday, ``D`` days) with the meetings of
    that period: ``n_violations``, ``meetings`` ("id (format, status)" list), ``n_held``."""
    frames = []
    if not violations.empty:
        vd = (
            pd.to_datetime(violations["occurred_at"], utc=True)
            .dt.tz_convert(tz)
            .dt.tz_localize(None)
        )
        frames.append(vd.dt.normalize())
    if not meetings.empty:
        frames.append(pd.to_datetime(meetings["date"]))
    if not frames:
        return pd.DataFrame(columns=["period", "n_violations", "meetings", "n_held"])
    allv = pd.concat(frames)
    start, end = allv.min(), allv.max()

    def period(d: pd.Series) -> pd.Series:
        d = pd.to_datetime(d).dt.normalize()
        if freq == "W":
            return d - pd.to_timedelta(d.dt.day_of_week, unit="D")
        return d

    idx = pd.Index(
        pd.date_range(period(pd.Series([start])).iloc[0], end, freq="7D" if freq == "W" else "D"),
        name="period",
    )
    out = pd.DataFrame(index=idx)
    if not violations.empty:
        out["n_violations"] = period(frames[0]).value_counts().reindex(idx, fill_value=0)
    else:
        out["n_violations"] = 0
    out["meetings"] = ""
    out["n_held"] = 0
    if not meetings.empty:
        m = meetings.assign(period=period(meetings["date"]))
        for p, g in m.groupby("period"):
            out.loc[p, "meetings"] = "; ".join(
                f"{r.meeting_id} ({r.format}, {r.status})" for r in g.itertuples()
            )
            out.loc[p, "n_held"] = int((g["status"] == "held").sum())
    out["n_violations"] = out["n_violations"].astype("int64")
    return out.reset_index()


def upcoming(meetings: pd.DataFrame, *, on: date) -> pd.DataFrame:
    """Proposed or confirmed meetings on or after ``on``, soonest first."""
    if meetings.empty:
        return meetings
    d = pd.to_datetime(meetings["date"])
    m = meetings[(d >= pd.Timestamp(on)) & meetings["status"].isin(["proposed", "confirmed"])]
    return m.assign(_d=d[m.index]).sort_values("_d").drop(columns="_d")


def status_counts(meetings: pd.DataFrame) -> dict[str, int]:
    """How many meetings at each status."""
    if meetings.empty:
        return {}
    return {str(k): int(v) for k, v in meetings["status"].value_counts().items()}
