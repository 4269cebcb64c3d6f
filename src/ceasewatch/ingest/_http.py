"""HTTP for the ingest adapters: one client, retries with backoff, an on-disk response cache.

Only this module talks to the network. It owns

* the ``httpx.Client`` (timeouts, a ``User-Agent`` naming ceasewatch),
* retries with exponential backoff and jitter on connection errors, HTTP 429 (honouring
  ``Retry-After``) and 5xx; any other 4xx fails at once with a :class:`FetchError` that
  names the status and what to check,
* a response cache on disk: one ``<key>.json`` (status, headers, ``fetched_at``, redacted
  URL) and one ``<key>.body`` per response, keyed by the SHA-256 of method, URL and query
  parameters *with every secret removed*; an entry younger than the maximum age is served
  without touching the network,
* redaction: secret values (API keys, tokens, e-mail addresses, passwords) and secret
  query parameters (``key``, ``email``, ``token``, ``MAP_KEY``, …) are replaced by ``***``
  in every log line (ours and httpx's), every error message and every cache file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from ceasewatch import __version__
from ceasewatch.errors import CeasewatchError

log = logging.getLogger(__name__)

USER_AGENT = f"ceasewatch/{__version__} (ceasefire monitoring; +https://github.com/ceasewatch)"

#: query parameters whose values are secrets (compared case-insensitively)
SECRET_PARAMS = frozenset(
    {
        "key",
        "email",
        "token",
        "access_token",
        "refresh_token",
        "password",
        "username",
        "map_key",
        "client_secret",
        "api_key",
        "apikey",
    }
)
REDACTED = "***"
#: the longest ``Retry-After`` we wait for; a longer one fails with the wait in the message
MAX_RETRY_AFTER_S = 120.0
#: the longest backoff between two attempts
MAX_BACKOFF_S = 60.0
#: response headers never written to the cache (they can carry credentials)
_UNCACHED_HEADERS = frozenset({"set-cookie", "authorization", "www-authenticate", "cookie"})
_CACHE_FORMAT = 1

_SECRET_PARAM_RE = re.compile(
    r"(?i)(?P<name>(?<![A-Za-z0-9_])(?:" + "|".join(sorted(SECRET_PARAMS)) + r"))"
    r"(?P<sep>=|%3D)(?P<value>[^&#\s\"'<>]*)"
)
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class FetchError(CeasewatchError, RuntimeError):
    """A download failed: network error, refused request, or an API error reply.

    ``status`` is the HTTP status when there was a reply (else ``None``); the message and
    ``url`` never contain a secret.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


# --- redaction ---------------------------------------------------------------------------
class Redactor:
    """Replaces secrets in text: known secret values and the values of secret parameters."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._values: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` (e.g. a token obtained at run time)."""
        # very short values would redact ordinary text; real keys are long
        if not secret or len(secret) < 4:
            return
        forms = set(self._values) | {secret, quote(secret, safe=""), quote_plus(secret)}
        forms.add(quote(secret))
        # longest first: a secret that contains another is replaced whole
        self._values = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        text = _SECRET_PARAM_RE.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)
        return _BEARER_RE.sub(rf"\g<1>{REDACTED}", text)

    @property
    def values(self) -> list[str]:
        return list(self._values)


class _RedactingFilter(logging.Filter):
    """Redacts the records of third-party loggers (httpx logs every URL at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._redactors: dict[int, Redactor] = {}

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors[id(redactor)] = redactor

    def discard(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.pop(id(redactor), None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            redactors = list(self._redactors.values())
        text = record.getMessage()
        clean = text
        for r in redactors or [_PARAMS_ONLY]:
            clean = r(clean)
        if clean != text:
            record.msg, record.args = clean, None
        return True


_PARAMS_ONLY = Redactor()
_LOG_FILTER = _RedactingFilter()
# a logger's filters see only the records created on that logger, not its children's
for _name in (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


# --- responses and cache keys ------------------------------------------------------------
@dataclass(frozen=True)
class HttpResponse:
    """A response, from the network or from the cache."""

    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime
    #: the request URL with its query, secrets redacted
    url: str
    from_cache: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _public_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return sorted(
        (str(k), str(v)) for k, v in (params or {}).items() if str(k).lower() not in SECRET_PARAMS
    )


def cache_key(
    method: str, url: str, params: Mapping[str, Any] | None, redact: Redactor | None = None
) -> str:
    """SHA-256 of method, URL and query parameters, with secrets removed from all three.

    Secret parameters are dropped and secret values in the URL (a key in the path) are
    replaced, so the key material, and thus the cache, never holds a secret; requests that
    differ only in their credentials share an entry.
    """
    clean_url = (redact or Redactor())(url)
    material = json.dumps(
        [_CACHE_FORMAT, method.upper(), clean_url, _public_params(params)], ensure_ascii=False
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def make_client(*, timeout_s: float = 60.0, user_agent: str = USER_AGENT) -> httpx.Client:
    """The one ``httpx.Client`` factory: timeouts, ``User-Agent``, redirects followed."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
        headers={"User-Agent": user_agent},
        follow_redirects=True,
    )


_STATUS_HINTS: dict[int, str] = {
    400: "the server rejected the request parameters; check them",
    401: "the credentials were rejected; check the key/token settings",
    403: "the credentials lack access to this data; check the key's access level",
    404: "nothing at this address; check the base URL setting",
    405: "wrong method for this address; check the base URL setting",
    410: "this API endpoint is gone; check the base URL setting",
}

ValidateFn = Callable[[HttpResponse], None]
HeadersFn = Callable[[], Mapping[str, str]]


class HttpSession:
    """GET/POST with retries and a response cache; use as a context manager.

    Parameters
    ----------
    cache_dir
        Folder of the response cache; ``None`` disables caching.
    max_age_s
        A cached response older than this (seconds) is fetched again.
    retries
        Extra attempts after the first on connection errors, 429 and 5xx.
    backoff_s
        Base of the exponential backoff: attempt ``n`` waits ``backoff_s * 2**n`` seconds
        plus up to half as much jitter (at most ``MAX_BACKOFF_S``).
    secrets
        Values never to log, raise or store (keys, tokens, e-mail addresses, passwords).
    sleep
        Called to wait between attempts (tests record it instead of sleeping).
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None,
        max_age_s: float = 3600.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        secrets: Iterable[str | None] = (),
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.max_age_s = float(max_age_s)
        self.retries = max(int(retries), 0)
        self.backoff_s = max(float(backoff_s), 0.0)
        self.redact = Redactor(secrets)
        self._client = client or make_client(timeout_s=timeout_s)
        self._own_client = client is None
        self._sleep = sleep
        #: requests sent over the network (attempts, including retries)
        self.network_attempts = 0
        _LOG_FILTER.add(self.redact)

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client:
            self._client.close()
        _LOG_FILTER.discard(self.redact)

    # --- public ------------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: HeadersFn | None = None,
        use_cache: bool = True,
        validate: ValidateFn | None = None,
        hints: Mapping[int, str] | None = None,
        what: str = "",
    ) -> HttpResponse:
        """GET ``url``: from the cache when a fresh entry exists, else from the network.

        ``headers`` is called only when the network is used (so a token is requested only
        then). ``validate`` raises :class:`FetchError` on an error reply that came with a
        success status; it runs before a response is cached, so errors are never cached.
        """
        key = cache_key("GET", url, params, self.redact)
        if use_cache:
            hit = self._cache_read(key)
            if hit is not None:
                if validate is not None:
                    validate(hit)
                log.info("%s: from cache (%s, fetched %s)", hit.url, key[:12], hit.fetched_at)
                return hit
        resp = self._send("GET", url, params=params, headers=headers, hints=hints, what=what)
        if validate is not None:
            validate(resp)
        if use_cache:
            self._cache_write(key, "GET", resp)
        return resp

    def post(
        self,
        url: str,
        *,
        data: Mapping[str, str],
        hints: Mapping[int, str] | None = None,
        what: str = "",
    ) -> HttpResponse:
        """POST a form (never cached; the form is never logged)."""
        return self._send("POST", url, data=data, hints=hints, what=what)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        base = min(self.backoff_s * (2**attempt), MAX_BACKOFF_S)
        return min(base + random.uniform(0.0, base / 2), MAX_BACKOFF_S)

    # --- network -----------------------------------------------------------------------
    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        headers: HeadersFn | None = None,
        hints: Mapping[int, str] | None = None,
        what: str = "",
    ) -> HttpResponse:
        shown = self.redact(str(httpx.Request(method, url, params=params).url))
        label = f"{what}: " if what else ""
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            self.network_attempts += 1
            t0 = time.monotonic()
            try:
                r = self._client.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=dict(headers()) if headers is not None else None,
                )
            except httpx.TransportError as e:
                # the exception text is redacted and the cause dropped: httpx errors carry
                # the request, whose URL or headers hold the secrets
                problem = self.redact(f"{type(e).__name__}: {e}")
                if last:
                    msg = (
                        f"{label}{method} {shown} failed after {attempts} attempt(s): {problem}. "
                        "Check the network connection and the base URL setting."
                    )
                    raise FetchError(msg, url=shown) from None
                delay = self.backoff(attempt)
                log.warning(
                    "%s%s %s: %s; retry %d/%d in %.2f s",
                    label,
                    method,
                    shown,
                    problem,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                self._sleep(delay)
                continue
            elapsed = time.monotonic() - t0
            status = r.status_code
            log.info("%s%s %s -> %d (%.2f s)", label, method, shown, status, elapsed)
            if status == 429 or status >= 500:
                wait = _retry_after_s(r.headers.get("Retry-After"))
                if wait is not None and wait > MAX_RETRY_AFTER_S:
                    msg = (
                        f"{label}{method} {shown}: HTTP {status}; the server asks to wait "
                        f"{wait:.0f} s before retrying (more than {MAX_RETRY_AFTER_S:.0f} s). "
                        "Try again later or narrow the request."
                    )
                    raise FetchError(msg, status=status, url=shown)
                if last:
                    why = "rate limited" if status == 429 else "server error"
                    msg = (
                        f"{label}{method} {shown}: HTTP {status} ({why}) on all {attempts} "
                        f"attempt(s): {self._snippet(r)}. Try again later"
                        + (" or ask for less at once." if status == 429 else ".")
                    )
                    raise FetchError(msg, status=status, url=shown)
                delay = wait if wait is not None else self.backoff(attempt)
                log.warning(
                    "%s%s %s: HTTP %d; retry %d/%d in %.2f s%s",
                    label,
                    method,
                    shown,
                    status,
                    attempt + 1,
                    self.retries,
                    delay,
                    " (Retry-After)" if wait is not None else "",
                )
                self._sleep(delay)
                continue
            if status >= 400:
                hint = (hints or {}).get(status) or _STATUS_HINTS.get(
                    status, "the request was refused; check the parameters and credentials"
                )
                msg = (
                    f"{label}{method} {shown}: HTTP {status} {r.reason_phrase}: "
                    f"{self._snippet(r)}. {hint[0].upper()}{hint[1:]}."
                )
                raise FetchError(msg, status=status, url=shown)
            return HttpResponse(
                status=status,
                headers={k.lower(): self.redact(v) for k, v in r.headers.items()},
                body=r.content,
                fetched_at=datetime.now(UTC),
                url=shown,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _snippet(self, r: httpx.Response, n: int = 300) -> str:
        text = " ".join(r.text.split())
        if not text:
            return "(empty reply)"
        return repr(self.redact(text[:n] + ("…" if len(text) > n else "")))

    # --- cache -------------------------------------------------------------------------
    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.cache_dir is not None
        folder = self.cache_dir / key[:2]
        return folder / f"{key}.json", folder / f"{key}.body"

    def _cache_read(self, key: str) -> HttpResponse | None:
        if self.cache_dir is None or self.max_age_s <= 0:
            return None
        meta_path, body_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            fetched_at = datetime.fromisoformat(meta["fetched_at"])
            age_s = (datetime.now(UTC) - fetched_at).total_seconds()
            if age_s > self.max_age_s or age_s < -60:
                log.debug("cache entry %s is %.0f s old: stale", key[:12], age_s)
                return None
            body = body_path.read_bytes()
            if hashlib.sha256(body).hexdigest() != meta["body_sha256"]:
                log.warning("cache entry %s is corrupt (body hash differs): ignored", key[:12])
                return None
            return HttpResponse(
                status=int(meta["status"]),
                headers={str(k): str(v) for k, v in meta["headers"].items()},
                body=body,
                fetched_at=fetched_at,
                url=str(meta["url"]),
                from_cache=True,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("cache entry %s unreadable (%s): ignored", key[:12], type(e).__name__)
            return None

    def _cache_write(self, key: str, method: str, resp: HttpResponse) -> None:
        if self.cache_dir is None:
            return
        meta_path, body_path = self._paths(key)
        meta = {
            "format": _CACHE_FORMAT,
            "key": key,
            "method": method,
            "url": self.redact(resp.url),
            "status": resp.status,
            "headers": {
                k: self.redact(v) for k, v in resp.headers.items() if k not in _UNCACHED_HEADERS
            },
            "fetched_at": resp.fetched_at.isoformat(),
            "body_bytes": len(resp.body),
            "body_sha256": hashlib.sha256(resp.body).hexdigest(),
        }
        try:
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            # body first, metadata last: an entry is complete once its .json exists
            _atomic_write(body_path, resp.body)
            _atomic_write(meta_path, json.dumps(meta, indent=1).encode("utf-8"))
        except OSError as e:
            # a cache that cannot be written costs speed, not correctness
            log.warning("cannot write the HTTP cache in %s: %s", self.cache_dir, e)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds (it is either seconds or an HTTP date); ``None`` if absent."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
