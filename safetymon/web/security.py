"""Who may do what in the live view: bind address, host header, bearer token.

- Binding: loopback only unless ``allow_remote`` (``check_bind_host``).
- Host header: when bound to loopback, requests must name a loopback host (a page on another
  site cannot read the view through DNS rebinding).
- Writes: every request with a method other than GET/HEAD/OPTIONS needs
  ``Authorization: Bearer TOKEN`` (compared in constant time); with no token configured all
  writes are refused (403). Reads never need the token.
- One exception, ``TOKEN_OPTIONAL``: ``POST /api/zones/preview`` validates a zone edit and
  writes nothing; the editor calls it while vertices are dragged, before the operator has
  typed the token. Without an ``Authorization`` header it is served with the scope flag
  ``safetymon.authenticated`` False (the reply then withholds the site file's diff); with
  one, the token is checked as for any write (a wrong token is refused).
- Wrong tokens are slowed and logged (``TokenThrottle``): each failure from a client
  address doubles the wait before that client's next token check (0.25 s up to 8 s, forgotten
  after 60 s without a failure), and concurrent requests of that client wait their turn, so
  guessing runs at a few tries per second at most instead of ~900; a warning names the
  client, at most once per 10 s per client with the count since.
- Every request spends from its client address's budget (``RequestBudget``, token buckets):
  ``HEAVY_ROUTES`` (zone list and preview, episodes, snapshots, single camera JPEGs: the
  ones that parse files or encode images) 4 per second with bursts of 20, everything else
  20 per second with bursts of 100 (the page itself asks for ~7 per second). A request over
  budget waits ``OVER_BUDGET_DELAY_S`` and gets 429 with ``Retry-After``: a client in a
  loop gets a few cheap answers per second per connection, and the decision loop keeps its
  rate (``benchmarks/bench_live_view.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safetymon.config.http import LOOPBACK_NAMES, is_loopback_host

log = logging.getLogger(__name__)

MIN_TOKEN_CHARS = 16
"""Shortest accepted token (a random token of at least this many characters)."""

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that never change anything and never need the token."""

TOKEN_OPTIONAL = frozenset({("POST", "/api/zones/preview")})
"""(method, path) of requests that change nothing but are not GETs: served without a token
(flagged unauthenticated), checked like writes when they carry one."""

AUTHENTICATED = "safetymon.authenticated"
"""ASGI scope key: True when the request carried the right token."""

LOOPBACK_HOSTS = (*sorted(LOOPBACK_NAMES), "127.0.0.1", "::1")
"""Host header values accepted when the view is bound to loopback."""


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP 2
    (b"cross-origin-resource-policy", b"same-origin"),  # no embedding from other sites
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
)
"""Headers added to every response: no inline or foreign scripts, no framing, no use of
its images, streams or JSON by pages of other origins."""


HEAVY_ROUTES = (
    ("GET", "/api/zones"),
    ("POST", "/api/zones/preview"),
    ("GET", "/api/episodes"),
    ("GET", "/snapshots/"),
    ("GET", "/camera/", ".jpg"),
)
"""(method, path prefix[, suffix]) of requests whose work is heavy (file parsing, image
encoding): they spend from the client's smaller heavy budget."""

OVER_BUDGET_DELAY_S = 0.25
"""A request over its client's budget is answered 429 after this wait (seconds)."""


def is_heavy(method: str, path: str) -> bool:
    """Whether a request spends from the heavy budget (``HEAVY_ROUTES``)."""
    return any(
        method == route[0]
        and path.startswith(route[1])
        and (len(route) == 2 or path.endswith(route[2]))
        for route in HEAVY_ROUTES
    )


def _remember_newest(table: dict, key: object, value: object, limit: int) -> None:
    """Store ``value`` as ``table``'s newest entry; forget the oldest beyond ``limit``."""
    table.pop(key, None)
    table[key] = value  # dicts keep insertion order: newest last
    while len(table) > limit:
        table.pop(next(iter(table)))


class RequestBudget:
    """Per client address and kind (heavy or light): a token bucket of requests.

    A bucket holds up to ``burst`` requests and refills at ``rate_hz`` per second. Pure
    bookkeeping; the middleware decides what to answer.

    Args:
        light_rate_hz, light_burst: every request that is not heavy.
        heavy_rate_hz, heavy_burst: requests of ``HEAVY_ROUTES``.
        log_every_s: at most one warning per client per this many seconds.
        max_clients: addresses remembered (the oldest are forgotten first).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        light_rate_hz: float = 20.0,
        light_burst: float = 100.0,
        heavy_rate_hz: float = 4.0,
        heavy_burst: float = 20.0,
        log_every_s: float = 10.0,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {False: (light_rate_hz, light_burst), True: (heavy_rate_hz, heavy_burst)}
        self.log_every_s, self.max_clients = log_every_s, max_clients
        self._clock = clock
        self._buckets: dict[tuple[str, bool], list[float]] = {}  # -> [tokens, last refill s]
        self._logged: dict[str, list[float]] = {}  # client -> [last log s, refused since]

    def spend(self, client: str, heavy: bool) -> bool:
        """Take one request from the client's bucket; False when it is empty (refuse)."""
        now = self._clock()
        rate, burst = self._limits[heavy]
        key = (client, heavy)
        bucket = self._buckets.get(key) or [burst, now]
        bucket[0] = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        _remember_newest(self._buckets, key, bucket, 2 * self.max_clients)
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        self._refused(client, heavy, now)
        return False

    def _refused(self, client: str, heavy: bool, now: float) -> None:
        entry = self._logged.get(client) or [-float("inf"), 0.0]
        _remember_newest(self._logged, client, entry, self.max_clients)
        entry[1] += 1
        if now - entry[0] >= self.log_every_s:
            rate, _ = self._limits[heavy]
            log.warning(
                "live view: %s is over its request budget (%s requests, %g/s): %d refused "
                "with 429 since the last warning", client, "heavy" if heavy else "light",
                rate, int(entry[1]),
            )  # fmt: skip
            entry[0], entry[1] = now, 0.0


class TokenThrottle:
    """Per client address: how long its next token check must wait after failures.

    Args:
        first_delay_s: wait after the first failure; each further failure doubles it.
        max_delay_s: the longest wait.
        forget_s: a client without a failure for this long starts again from zero.
        log_every_s: at most one warning per client per this many seconds.
        max_clients: addresses remembered (the oldest are forgotten first).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        first_delay_s: float = 0.25,
        max_delay_s: float = 8.0,
        forget_s: float = 60.0,
        log_every_s: float = 10.0,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self.forget_s, self.log_every_s, self.max_clients = forget_s, log_every_s, max_clients
        self._clock = clock
        # client -> [failures, last failure s, next check allowed s, last log s, unlogged]
        self._clients: dict[str, list[float]] = {}

    def wait_s(self, client: str) -> float:
        """Seconds this client's next token check must wait (0 when it may go at once)."""
        entry = self._clients.get(client)
        now = self._clock()
        if entry is None or now - entry[1] > self.forget_s:
            return 0.0
        return max(0.0, entry[2] - now)

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client`` and push its next check back."""
        now = self._clock()
        entry = self._clients.get(client)
        if entry is None or now - entry[1] > self.forget_s:
            entry = [0.0, now, now, -float("inf"), 0.0]
        entry[0] += 1
        entry[1] = now
        delay = min(self.max_delay_s, self.first_delay_s * 2.0 ** (entry[0] - 1))
        entry[2] = max(entry[2], now) + delay
        entry[4] += 1
        if now - entry[3] >= self.log_every_s:
            log.warning(
                "live view: wrong token from %s (%d in the last period, %d in a row); its "
                "next try waits %.2f s", client, int(entry[4]), int(entry[0]), entry[2] - now,
            )  # fmt: skip
            entry[3], entry[4] = now, 0.0
        _remember_newest(self._clients, client, entry, self.max_clients)

    def succeeded(self, client: str) -> None:
        """A right token: the client starts again from zero."""
        self._clients.pop(client, None)


class RemoteBindError(ValueError):
    """Binding a non-loopback address was asked for without ``allow_remote``."""


def check_bind_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless ``allow_remote`` (raises RemoteBindError)."""
    if not allow_remote and not is_loopback_host(host):
        raise RemoteBindError(
            f"live view host {host!r} is not a loopback address; refusing to serve the live "
            f"view to other machines unless allow_remote is set (monitor.http.allow_remote)"
        )


def read_token_file(path: Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace stripped).

    Raises:
        ValueError: the file cannot be read, is empty, holds whitespace inside the token or
            is shorter than ``MIN_TOKEN_CHARS`` (names the file, never the token).
    """
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"live view token file {path}: cannot read it: {exc}") from exc
    if any(ch.isspace() for ch in token):
        raise ValueError(f"live view token file {path}: the token must be one word")
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"live view token file {path}: the token has {len(token)} characters, "
            f"at least {MIN_TOKEN_CHARS} are required"
        )
    return token


def check_token(token: str) -> str:
    """Validate a token given directly (same rules as ``read_token_file``)."""
    if not token or any(ch.isspace() for ch in token) or len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"live view token must be one word of at least {MIN_TOKEN_CHARS} characters"
        )
    return token


def host_of(header: str) -> str:
    """The host part of a Host header value (``[::1]:8080`` → ``::1``), lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class GuardMiddleware:
    """ASGI middleware: Host header check, bearer token on writes, security headers.

    Args:
        app: the application.
        token: the write token, or None (all writes refused with 403).
        allowed_hosts: Host header hosts accepted, or None for any (remote serving).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: tuple[str, ...] | None,
        throttle: TokenThrottle | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self.app = app
        self._token = token.encode() if token is not None else None
        self._hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts else None
        self.throttle = throttle or TokenThrottle()
        self.budget = budget or RequestBudget()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._hosts is not None and host_of(headers.get("host", "")) not in self._hosts:
            await _error(send, 400, "Host header names no address this view is served on")
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if not self.budget.spend(client, is_heavy(scope["method"], scope["path"])):
            await asyncio.sleep(OVER_BUDGET_DELAY_S)  # a client in a loop gets a few per second
            await _error(send, 429, "too many requests: slow down", retry_after_s=1)
            return
        scope[AUTHENTICATED] = False
        if scope["method"] not in READ_METHODS:
            optional = (scope["method"], scope["path"]) in TOKEN_OPTIONAL
            if not (optional and "authorization" not in headers):
                # wait this client's turn: parallel guesses queue instead of multiplying
                while (wait := self.throttle.wait_s(client)) > 0:
                    await asyncio.sleep(wait)
                refusal = self._refusal(headers.get("authorization"))
                if refusal is not None:
                    status, message = refusal
                    if status == 403 and self._token is not None:
                        self.throttle.failed(client)
                    await _error(send, status, message)
                    return
                self.throttle.succeeded(client)
                scope[AUTHENTICATED] = True

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, authorization: str | None) -> tuple[int, str] | None:
        if self._token is None:
            return 403, "write actions are disabled: no token is configured for the live view"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "write actions need the header 'Authorization: Bearer TOKEN'"
        if not hmac.compare_digest(given.strip().encode(), self._token):
            return 403, "the token is not valid"
        return None


async def _error(send: Send, status: int, message: str, retry_after_s: int | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="safetymon"'))
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    headers.extend(SECURITY_HEADERS)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
