"""Downloading source data: ACLED events (read API) and NASA FIRMS detections (area API).

Each function writes one CSV in the layout that ``ceasewatch ingest <source>`` reads and
returns a :class:`FetchResult` saying what was requested, how many rows came back and
which requests were answered by the response cache. All network traffic goes through
:mod:`ceasewatch.ingest._http` (retries, cache, redaction of secrets).

Credentials and endpoints come from :class:`FetchSettings` (environment variables with the
prefix ``CEASEWATCH_``; see ``docs/fetch.md``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ceasewatch.errors import CeasewatchError
from ceasewatch.ingest._http import FetchError, HttpResponse, HttpSession, ValidateFn

__all__ = [
    "ACLED_COLUMNS",
    "FIRMS_SOURCES",
    "FetchError",
    "FetchParameterError",
    "FetchResult",
    "FetchSettings",
    "FetchedRequest",
    "fetch_acled",
    "fetch_firms",
    "parse_bbox",
]

log = logging.getLogger(__name__)

ACLED_API_URL = "https://acleddata.com/api/acled/read"
ACLED_TOKEN_URL = "https://acleddata.com/oauth/token"
FIRMS_BASE_URL = "https://firms.modaps.eosdis.nasa.gov"
DEFAULT_CACHE_DIR = Path("~/.cache/ceasewatch/http")

#: columns of an ACLED API export (written as the header when a query matches nothing)
ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2",
    "inter2", "interaction", "civilian_targeting", "iso", "region", "country", "admin1",
    "admin2", "admin3", "location", "latitude", "longitude", "geo_precision", "source",
    "source_scale", "notes", "fatalities", "tags", "timestamp",
)  # fmt: skip
#: FIRMS area-API products
FIRMS_SOURCES = (
    "VIIRS_SNPP_NRT",
    "VIIRS_SNPP_SP",
    "VIIRS_NOAA20_NRT",
    "VIIRS_NOAA20_SP",
    "VIIRS_NOAA21_NRT",
    "MODIS_NRT",
    "MODIS_SP",
    "LANDSAT_NRT",
)
#: the most days one FIRMS area request may ask for
FIRMS_MAX_DAYS = 10
#: columns of a current FIRMS VIIRS CSV (written as the header when nothing came back)
FIRMS_VIIRS_COLUMNS = (
    "latitude", "longitude", "bright_ti4", "scan", "track", "acq_date", "acq_time",
    "satellite", "instrument", "confidence", "version", "bright_ti5", "frp", "daynight",
)  # fmt: skip
_FIRMS_REQUIRED = frozenset({"latitude", "longitude", "acq_date", "acq_time"})
_FIRMS_KEY_URL = "https://firms.modaps.eosdis.nasa.gov/api/map_key/"

AcledAuth = Literal["auto", "key", "oauth"]


class FetchParameterError(CeasewatchError, ValueError):
    """The arguments of a fetch are invalid or credentials are missing (nothing was sent).

    ``problems`` lists every problem found.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or []


def _raise_problems(what: str, problems: list[str]) -> None:
    if problems:
        msg = f"{what}: " + "; ".join(problems)
        raise FetchParameterError(msg, problems)


class FetchSettings(BaseSettings):
    """Credentials, endpoints and HTTP behaviour of the fetchers (env prefix ``CEASEWATCH_``).

    Attributes
    ----------
    acled_key, acled_email
        Legacy ACLED access key and the account's e-mail (query parameters ``key`` and
        ``email``; ACLED replaced them by OAuth in September 2025).
    acled_username, acled_password
        ACLED account e-mail and password, exchanged for an OAuth access token.
    acled_token
        An ACLED OAuth access token, used as it is (``Authorization: Bearer``).
    acled_base_url, acled_token_url
        ACLED read endpoint and OAuth token endpoint.
    firms_map_key
        NASA FIRMS ``MAP_KEY``.
    firms_base_url
        FIRMS server (the area API lives under ``/api/area/csv``).
    http_cache_dir
        Folder of the response cache.
    http_cache_max_age_s
        A cached response older than this (seconds) is downloaded again; 0 disables reading.
    http_retries
        Extra attempts after a connection error, HTTP 429 or 5xx.
    http_backoff_s
        Base of the exponential backoff between attempts (seconds).
    http_timeout_s
        Timeout of one request (seconds).
    """

    model_config = SettingsConfigDict(env_prefix="CEASEWATCH_", extra="ignore")

    acled_key: SecretStr | None = Field(default=None, description="legacy ACLED access key")
    acled_email: SecretStr | None = Field(default=None, description="legacy ACLED e-mail")
    acled_username: SecretStr | None = Field(default=None, description="ACLED account e-mail")
    acled_password: SecretStr | None = Field(default=None, description="ACLED password")
    acled_token: SecretStr | None = Field(default=None, description="ACLED OAuth access token")
    acled_base_url: str = Field(default=ACLED_API_URL, description="ACLED read endpoint")
    acled_token_url: str = Field(default=ACLED_TOKEN_URL, description="ACLED token endpoint")
    firms_map_key: SecretStr | None = Field(default=None, description="NASA FIRMS MAP_KEY")
    firms_base_url: str = Field(default=FIRMS_BASE_URL, description="NASA FIRMS server")
    http_cache_dir: Path = Field(default=DEFAULT_CACHE_DIR, description="response cache folder")
    http_cache_max_age_s: float = Field(default=3600.0, ge=0, description="cache max age, s")
    http_retries: int = Field(default=4, ge=0, le=20, description="retries after the first try")
    http_backoff_s: float = Field(default=1.0, ge=0, description="backoff base, s")
    http_timeout_s: float = Field(default=60.0, gt=0, description="timeout per request, s")

    @field_validator("http_cache_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    def secret_values(self) -> list[str]:
        """Every configured secret, for redaction."""
        fields = (
            self.acled_key,
            self.acled_email,
            self.acled_username,
            self.acled_password,
            self.acled_token,
            self.firms_map_key,
        )
        return [s.get_secret_value() for s in fields if s is not None and s.get_secret_value()]

    def session(self) -> HttpSession:
        """An :class:`HttpSession` configured by these settings."""
        return HttpSession(
            cache_dir=self.http_cache_dir,
            max_age_s=self.http_cache_max_age_s,
            retries=self.http_retries,
            backoff_s=self.http_backoff_s,
            timeout_s=self.http_timeout_s,
            secrets=self.secret_values(),
        )


def _secret(value: SecretStr | None) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() or None


@dataclass(frozen=True)
class FetchedRequest:
    """One data request: its URL (secrets redacted), rows returned, cache or network."""

    url: str
    rows: int
    from_cache: bool


@dataclass
class FetchResult:
    """What one fetch did."""

    source: str
    path: Path
    rows: int = 0
    requests: list[FetchedRequest] = field(default_factory=list)
    #: how the request authenticated (``key``, ``oauth password``, ``oauth token``, ``map_key``)
    auth: str = ""
    #: network attempts, including retries and the token request
    network_attempts: int = 0
    seconds: float = 0.0

    @property
    def pages(self) -> int:
        return len(self.requests)

    @property
    def from_cache(self) -> int:
        return sum(r.from_cache for r in self.requests)

    @property
    def from_network(self) -> int:
        return sum(not r.from_cache for r in self.requests)


@contextmanager
def _session_for(settings: FetchSettings, session: HttpSession | None) -> Iterator[HttpSession]:
    if session is not None:
        for s in settings.secret_values():
            session.redact.add(s)
        yield session
        return
    with settings.session() as own:
        yield own


@contextmanager
def _atomic_text(path: Path) -> Iterator[TextIO]:
    """A text file that appears at ``path`` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- argument checks ---------------------------------------------------------------------
def parse_bbox(
    value: str | Sequence[float], *, name: str = "bbox"
) -> tuple[float, float, float, float]:
    """``west,south,east,north`` in WGS84 degrees as four floats; raises on any problem."""
    problems: list[str] = []
    parts: list[str]
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    else:
        parts = [str(v) for v in value]
    nums: list[float] = []
    if len(parts) != 4:
        problems.append(
            f"{name} {value!r} has {len(parts)} value(s); expected west,south,east,north "
            "in degrees (e.g. 22,44,41,53)"
        )
    else:
        for label, p in zip(("west", "south", "east", "north"), parts, strict=True):
            try:
                v = float(p)
            except ValueError:
                problems.append(f"{name} {label} {p!r} is not a number")
                continue
            if not math.isfinite(v):
                problems.append(f"{name} {label} {p!r} is not a finite number")
            nums.append(v)
    if len(nums) == 4 and not problems:
        west, south, east, north = nums
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            problems.append(f"{name} west/east {west}, {east} must be within [-180, 180]")
        if not (-90 <= south <= 90 and -90 <= north <= 90):
            problems.append(f"{name} south/north {south}, {north} must be within [-90, 90]")
        if west >= east:
            problems.append(f"{name} west {west} must be less than east {east}")
        if south >= north:
            problems.append(f"{name} south {south} must be less than north {north}")
    _raise_problems(f"invalid {name}", problems)
    west, south, east, north = nums
    return west, south, east, north


def _fmt_deg(v: float) -> str:
    return format(v, ".6f").rstrip("0").rstrip(".") or "0"


def _as_date(value: date | datetime | str, name: str, problems: list[str]) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{name} {value!r} is not a date (expected yyyy-mm-dd)")
        return None


def _today() -> date:
    return datetime.now(UTC).date()


# --- ACLED -------------------------------------------------------------------------------
class _AcledAuthorizer:
    """Query parameters (legacy key + e-mail) or a Bearer header (OAuth), token fetched lazily."""

    def __init__(self, settings: FetchSettings, auth: AcledAuth, session: HttpSession) -> None:
        self._settings = settings
        self._session = session
        self._token: str | None = None
        key, email = _secret(settings.acled_key), _secret(settings.acled_email)
        user, password = _secret(settings.acled_username), _secret(settings.acled_password)
        token = _secret(settings.acled_token)
        has_oauth = bool(token or (user and password))
        has_key = bool(key and email)
        if auth not in ("auto", "key", "oauth"):
            msg = f"auth {auth!r} is not one of auto, key, oauth"
            raise FetchParameterError(msg, [msg])
        mode = auth if auth != "auto" else ("oauth" if has_oauth else "key" if has_key else "")
        if mode == "oauth" and not has_oauth:
            msg = (
                "ACLED OAuth needs CEASEWATCH_ACLED_USERNAME and CEASEWATCH_ACLED_PASSWORD "
                "(account e-mail and password) or CEASEWATCH_ACLED_TOKEN (an access token)"
            )
            raise FetchParameterError(msg, [msg])
        if mode == "key" and not has_key:
            msg = (
                "ACLED key authentication needs CEASEWATCH_ACLED_KEY and CEASEWATCH_ACLED_EMAIL "
                "(ACLED moved to OAuth in September 2025: prefer CEASEWATCH_ACLED_USERNAME and "
                "CEASEWATCH_ACLED_PASSWORD)"
            )
            raise FetchParameterError(msg, [msg])
        if not mode:
            msg = (
                "no ACLED credentials: set CEASEWATCH_ACLED_USERNAME and "
                "CEASEWATCH_ACLED_PASSWORD (OAuth), or CEASEWATCH_ACLED_TOKEN, or the legacy "
                "CEASEWATCH_ACLED_KEY and CEASEWATCH_ACLED_EMAIL"
            )
            raise FetchParameterError(msg, [msg])
        self.mode = mode
        self.params: dict[str, str] = {}
        if mode == "key":
            assert key is not None and email is not None
            self.params = {"key": key, "email": email}
            self.label = "key"
        elif token and not (user and password):
            self._token = token
            self.label = "oauth token"
        else:
            self.label = "oauth password"

    def headers(self) -> dict[str, str]:
        if self.mode != "oauth":
            return {"Accept": "application/json"}
        if self._token is None:
            self._token = self._request_token()
        return {"Accept": "application/json", "Authorization": f"Bearer {self._token}"}

    def _request_token(self) -> str:
        s = self._settings
        hint = (
            "ACLED did not accept the account: check CEASEWATCH_ACLED_USERNAME (the account "
            "e-mail) and CEASEWATCH_ACLED_PASSWORD, and that the account has API access"
        )
        resp = self._session.post(
            s.acled_token_url,
            data={
                "username": _secret(s.acled_username) or "",
                "password": _secret(s.acled_password) or "",
                "grant_type": "password",
                "client_id": "acled",
            },
            hints={400: hint, 401: hint, 403: hint},
            what="ACLED token",
        )
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            detail = self._session.redact(" ".join(resp.text.split())[:300])
            msg = (
                f"ACLED token endpoint {resp.url} answered without an access_token: "
                f"{detail!r}. Check CEASEWATCH_ACLED_TOKEN_URL and the account."
            )
            raise FetchError(msg, status=resp.status, url=resp.url)
        self._session.redact.add(token)
        refresh = payload.get("refresh_token") if isinstance(payload, dict) else None
        if isinstance(refresh, str):
            self._session.redact.add(refresh)
        log.info("ACLED: OAuth access token obtained (expires in %s s)", payload.get("expires_in"))
        return token


def _acled_error_text(payload: Mapping[str, Any]) -> str:
    err = payload.get("error", payload.get("messages", payload.get("message")))
    parts: list[str] = []
    items = err if isinstance(err, list) else [err]
    for item in items:
        if isinstance(item, Mapping):
            text = item.get("message") or item.get("error") or json.dumps(item)
            st = item.get("status")
            parts.append(f"{text} (status {st})" if st is not None else str(text))
        elif item is not None:
            parts.append(str(item))
    return "; ".join(parts) or "no error message"


def _check_acled_page(session: HttpSession) -> ValidateFn:
    def check(resp: HttpResponse) -> None:
        try:
            payload = resp.json()
        except ValueError:
            snippet = session.redact(" ".join(resp.text.split())[:300])
            msg = (
                f"ACLED {resp.url} did not answer JSON (got {snippet!r}). "
                "Check CEASEWATCH_ACLED_BASE_URL."
            )
            raise FetchError(msg, status=resp.status, url=resp.url) from None
        if not isinstance(payload, Mapping):
            msg = f"ACLED {resp.url} answered a JSON {type(payload).__name__}, not an object"
            raise FetchError(msg, status=resp.status, url=resp.url)
        if payload.get("success") is False or (
            "error" in payload and not isinstance(payload.get("data"), list)
        ):
            status = payload.get("status")
            detail = session.redact(_acled_error_text(payload))
            hint = "Check the query parameters."
            low = detail.lower()
            if any(w in low for w in ("access", "key", "email", "auth", "token", "permission")):
                hint = (
                    "Check the ACLED credentials and the account's access level (an "
                    "'unauthorised access type' reply means the account lacks API access "
                    "to this data)."
                )
            msg = f"ACLED refused the request {resp.url} (status {status}): {detail}. {hint}"
            raise FetchError(
                msg, status=status if isinstance(status, int) else resp.status, url=resp.url
            )
        if not isinstance(payload.get("data"), list):
            msg = f"ACLED {resp.url} answered without a 'data' list (keys: {sorted(payload)})"
            raise FetchError(msg, status=resp.status, url=resp.url)

    return check


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def fetch_acled(
    settings: FetchSettings,
    *,
    country: str | None = None,
    bbox: str | Sequence[float] | None = None,
    since: date | str,
    until: date | str,
    out_path: Path,
    page_size: int = 5000,
    auth: AcledAuth = "auto",
    use_cache: bool = True,
    max_pages: int = 1000,
    session: HttpSession | None = None,
) -> FetchResult:
    """Download ACLED events into one CSV in ACLED's export layout.

    Parameters
    ----------
    country
        ACLED country name (e.g. ``"Ukraine"``).
    bbox
        ``west,south,east,north`` in WGS84 degrees; bounds inclusive (ACLED ``BETWEEN``).
    since, until
        First and last ``event_date`` (inclusive, dates of the event's day).
    out_path
        CSV to write (columns as the API returns them, header once); written only when the
        whole download succeeds.
    page_size
        Rows per request (``limit``); paging stops at the first page with fewer rows.
    auth
        ``"oauth"`` (username + password for a token, or a given token; Bearer header),
        ``"key"`` (legacy ``key`` + ``email`` query parameters) or ``"auto"`` (OAuth when
        configured, else key).
    use_cache
        Read and write the response cache (``False``: always download, store nothing).
    max_pages
        Stop with an error rather than request more pages than this.
    session
        An open :class:`HttpSession` to use (default: one from ``settings``).
    """
    t0 = time.monotonic()
    problems: list[str] = []
    d0 = _as_date(since, "since", problems)
    d1 = _as_date(until, "until", problems)
    if d0 is not None and d1 is not None and d0 > d1:
        problems.append(f"since {d0} is after until {d1}")
    if not 1 <= page_size <= 100_000:
        problems.append(f"page_size {page_size} must be within 1..100000")
    if max_pages < 1:
        problems.append(f"max_pages {max_pages} must be at least 1")
    if country is not None and not country.strip():
        problems.append("country is empty")
    box: tuple[float, float, float, float] | None = None
    if bbox is not None:
        try:
            box = parse_bbox(bbox)
        except FetchParameterError as e:
            problems.extend(e.problems)
    _raise_problems("cannot fetch ACLED events", problems)
    assert d0 is not None and d1 is not None

    query: dict[str, str] = {
        "event_date": f"{d0.isoformat()}|{d1.isoformat()}",
        "event_date_where": "BETWEEN",
        "limit": str(page_size),
        "_format": "json",
    }
    if country:
        query["country"] = country.strip()
    if box is not None:
        west, south, east, north = box
        query.update(
            {
                "latitude": f"{_fmt_deg(south)}|{_fmt_deg(north)}",
                "latitude_where": "BETWEEN",
                "longitude": f"{_fmt_deg(west)}|{_fmt_deg(east)}",
                "longitude_where": "BETWEEN",
            }
        )
    result = FetchResult("acled", Path(out_path))
    with _session_for(settings, session) as http:
        authorizer = _AcledAuthorizer(settings, auth, http)
        result.auth = authorizer.label
        attempts0 = http.network_attempts
        check = _check_acled_page(http)
        columns: list[str] | None = None
        dropped: set[str] = set()
        with _atomic_text(result.path) as fh:
            writer: csv.DictWriter[str] | None = None
            for page in range(1, max_pages + 2):
                if page > max_pages:
                    msg = (
                        f"ACLED: more than max_pages={max_pages} pages of {page_size} rows; "
                        "narrow the query (dates, country, bbox) or raise max_pages"
                    )
                    raise FetchError(msg)
                resp = http.get(
                    settings.acled_base_url,
                    params={**query, **authorizer.params, "page": str(page)},
                    headers=authorizer.headers,
                    use_cache=use_cache,
                    validate=check,
                    hints={
                        401: (
                            "ACLED did not accept the credentials: check "
                            "CEASEWATCH_ACLED_USERNAME/PASSWORD or CEASEWATCH_ACLED_TOKEN "
                            "(tokens expire after 24 h); the legacy key + e-mail stopped "
                            "working when ACLED moved to OAuth in September 2025"
                        ),
                        403: (
                            "the ACLED account lacks access to this data (its access tier "
                            "does not include the API or this query: an 'unauthorised access "
                            "type' reply means the account needs an upgrade or an "
                            "institutional e-mail); check it on acleddata.com"
                        ),
                    },
                    what=f"ACLED page {page}",
                )
                rows = resp.json()["data"]
                if columns is None:
                    columns = list(rows[0].keys()) if rows else list(ACLED_COLUMNS)
                    writer = csv.DictWriter(
                        fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
                    )
                    writer.writeheader()
                assert writer is not None
                for row in rows:
                    extra = set(row) - set(columns)
                    if extra - dropped:
                        dropped |= extra
                        log.warning(
                            "ACLED page %d has columns not on page 1 (dropped): %s",
                            page,
                            ", ".join(sorted(extra)),
                        )
                    writer.writerow({k: _cell(v) for k, v in row.items()})
                result.rows += len(rows)
                result.requests.append(FetchedRequest(resp.url, len(rows), resp.from_cache))
                log.info(
                    "ACLED page %d: %d row(s) (%s)",
                    page,
                    len(rows),
                    "cache" if resp.from_cache else "network",
                )
                if len(rows) < page_size:
                    break
        result.network_attempts = http.network_attempts - attempts0
    result.seconds = time.monotonic() - t0
    return result


# --- FIRMS -------------------------------------------------------------------------------
def _firms_area(area: str | Sequence[float], problems: list[str]) -> str | None:
    if isinstance(area, str) and area.strip().lower() == "world":
        return "world"
    try:
        west, south, east, north = parse_bbox(area, name="area")
    except FetchParameterError as e:
        problems.extend(e.problems)
        return None
    return ",".join(_fmt_deg(v) for v in (west, south, east, north))


def firms_chunks(
    days: int, start: date | None, *, max_days: int = FIRMS_MAX_DAYS
) -> list[tuple[int, date | None]]:
    """``(days, start date)`` of each FIRMS request covering ``days`` days from ``start``.

    One request when ``days <= max_days`` (no date: FIRMS's most recent days); otherwise
    consecutive requests of at most ``max_days`` days from ``start`` (default: the first of
    the ``days`` days ending today, UTC).
    """
    if days <= max_days:
        return [(days, start)]
    first = start or (_today() - timedelta(days=days - 1))
    out: list[tuple[int, date | None]] = []
    done = 0
    while done < days:
        n = min(max_days, days - done)
        out.append((n, first + timedelta(days=done)))
        done += n
    return out


def _check_firms_csv(session: HttpSession) -> ValidateFn:
    def check(resp: HttpResponse) -> None:
        text = resp.text.lstrip("\ufeff")
        if not text.strip():
            return
        first = text.splitlines()[0]
        header = {c.strip().lower() for c in next(csv.reader([first]), [])}
        if header >= _FIRMS_REQUIRED:
            return
        detail = session.redact(" ".join(text.split())[:300])
        low = detail.lower()
        if "map_key" in low or "map key" in low:
            hint = f"Check CEASEWATCH_FIRMS_MAP_KEY (a free key comes from {_FIRMS_KEY_URL})"
        elif "transaction" in low or "limit" in low:
            hint = "FIRMS allows 5000 transactions per 10 minutes; wait and try again"
        else:
            hint = "Check source, area, days and date, and CEASEWATCH_FIRMS_BASE_URL"
        msg = f"FIRMS answered {detail!r} instead of a CSV for {resp.url}. {hint}."
        raise FetchError(msg, status=resp.status, url=resp.url)

    return check


def fetch_firms(
    settings: FetchSettings,
    *,
    source: str = "VIIRS_SNPP_NRT",
    area: str | Sequence[float] = "22,44,41,53",
    days: int = 1,
    date: date | str | None = None,
    out_path: Path,
    use_cache: bool = True,
    max_days_per_request: int = FIRMS_MAX_DAYS,
    session: HttpSession | None = None,
) -> FetchResult:
    """Download NASA FIRMS fire detections of an area into one CSV in FIRMS's layout.

    Parameters
    ----------
    source
        FIRMS product, one of :data:`FIRMS_SOURCES`.
    area
        ``west,south,east,north`` in WGS84 degrees, or ``"world"``.
    days
        Number of days (UTC acquisition dates). Up to ``max_days_per_request`` is one
        request; more are split into consecutive requests and concatenated (header once).
    date
        First day; without it, the most recent ``days`` days.
    out_path
        CSV to write; written only when every request succeeded.
    use_cache
        Read and write the response cache (``False``: always download, store nothing).
    session
        An open :class:`HttpSession` to use (default: one from ``settings``).
    """
    t0 = time.monotonic()
    problems: list[str] = []
    src = source.strip().upper()
    if src not in FIRMS_SOURCES:
        problems.append(f"source {source!r} is not one of {', '.join(FIRMS_SOURCES)}")
    if not 1 <= max_days_per_request <= FIRMS_MAX_DAYS:
        problems.append(
            f"max_days_per_request {max_days_per_request} must be within 1..{FIRMS_MAX_DAYS}"
        )
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        problems.append(f"days {days!r} must be a whole number of days, at least 1")
    area_text = _firms_area(area, problems)
    start = _as_date(date, "date", problems) if date is not None else None
    if start is not None and start > _today():
        problems.append(f"date {start} is in the future")
    key = _secret(settings.firms_map_key)
    if not key:
        problems.append(f"no FIRMS MAP_KEY: set CEASEWATCH_FIRMS_MAP_KEY (free: {_FIRMS_KEY_URL})")
    _raise_problems("cannot fetch FIRMS detections", problems)
    assert key is not None and area_text is not None

    base = settings.firms_base_url.rstrip("/")
    result = FetchResult("firms", Path(out_path), auth="map_key")
    with _session_for(settings, session) as http, _atomic_text(result.path) as fh:
        attempts0 = http.network_attempts
        check = _check_firms_csv(http)
        writer = csv.writer(fh, lineterminator="\n")
        header: list[str] | None = None
        for n, day in firms_chunks(days, start, max_days=max_days_per_request):
            url = f"{base}/api/area/csv/{quote(key, safe='')}/{src}/{area_text}/{n}"
            if day is not None:
                url += f"/{day.isoformat()}"
            resp = http.get(
                url,
                use_cache=use_cache,
                validate=check,
                hints={
                    400: (
                        "FIRMS rejected the request: check CEASEWATCH_FIRMS_MAP_KEY, the source, "
                        f"the area (west,south,east,north) and days (1..{FIRMS_MAX_DAYS})"
                    ),
                    403: (
                        "the FIRMS MAP_KEY lacks access or is over its transaction limit; "
                        f"check it at {_FIRMS_KEY_URL}"
                    ),
                },
                what=f"FIRMS {src} {n} day(s)" + (f" from {day}" if day else ""),
            )
            reader = csv.reader(io.StringIO(resp.text.lstrip("\ufeff")))
            chunk_header = [c.strip() for c in next(reader, [])]
            count = 0
            if chunk_header:
                if header is None:
                    header = chunk_header
                    writer.writerow(header)
                # a chunk with other columns (FIRMS changed its layout mid-range): by name
                where = (
                    None
                    if chunk_header == header
                    else [chunk_header.index(c) if c in chunk_header else -1 for c in header]
                )
                for r in reader:
                    if not any(c.strip() for c in r):
                        continue
                    if where is not None:
                        r = [r[i] if 0 <= i < len(r) else "" for i in where]
                    writer.writerow(r)
                    count += 1
            result.rows += count
            result.requests.append(FetchedRequest(resp.url, count, resp.from_cache))
            origin = "cache" if resp.from_cache else "network"
            log.info("FIRMS %s: %d row(s) (%s)", resp.url, count, origin)
        if header is None:
            writer.writerow(FIRMS_VIIRS_COLUMNS)
        result.network_attempts = http.network_attempts - attempts0
    result.seconds = time.monotonic() - t0
    return result
