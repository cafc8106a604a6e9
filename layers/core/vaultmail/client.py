"""HTTP adapter for the Active Store upload API: one pooled session, bounded retries.

Step 1 asks for a slot (JSON), step 2 streams the mail to it with a Content-Length.
429 (honouring Retry-After), 5xx, connection errors and timeouts are retried with capped
exponential backoff and full jitter, at most ``max_attempts`` times per step. The API key
is sent in a header and never logged.

The key goes to the endpoint's host alone (SECURITY.md): over HTTPS, plain ``http://`` only to
a loopback address (the local stand-ins), and step 1 never follows a redirect: ``requests``
strips only ``Authorization`` when a redirect changes host, so ``x-api-key`` would follow it.
A 3xx from step 1 is a failure that names the Location's host. Step 2 (the slot, a presigned
S3 URL) carries only the slot's own headers, never the key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder

from . import api
from .errors import ConfigurationError, UploadFailed, VaultmailError
from .settings import Settings
from .source import CHUNK, LengthReader, MailSource

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class UploadClient:
    """Speaks the v1 contract of ``api.py`` over HTTP."""

    def __init__(
        self,
        endpoint_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        time_left: Callable[[], float | None] | None = None,
    ) -> None:
        """``time_left``: seconds the client may still use, or None for no limit (a Lambda's
        deadline, less what the caller needs after the upload). No retry is started that could
        not finish in time, and no wait outlasts it: the failure is then an ``UploadFailed``
        (transient: the event is retried later) instead of the invocation timing out.
        ``max_wait``: the longest ``Retry-After`` waited for in-process, a longer one ending the
        retries at once with an ``UploadFailed`` that carries it (``retry_after``) for the
        caller; None (the default) waits at most max(``backoff_cap``, 60 s) and retries."""
        self.endpoint_url = checked_endpoint(endpoint_url)
        self._api_key = api_key
        self.session = session or _pooled_session()
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_wait = max_wait
        self._sleep = sleep
        self._jitter = jitter
        self._time_left = time_left
        self.attempts: dict[str, int] = {api.SLOT_REQUEST: 0, api.UPLOAD: 0}

    @classmethod
    def from_settings(cls, settings: Settings, api_key: str, **kwargs: Any) -> UploadClient:
        settings.require("api_endpoint_url")
        assert settings.api_endpoint_url is not None
        return cls(
            settings.api_endpoint_url,
            api_key,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
            backoff_cap=settings.backoff_cap,
            **kwargs,
        )

    def __repr__(self) -> str:  # never show the key
        return f"UploadClient({self.endpoint_url!r})"

    # -- the two steps ---------------------------------------------------------------

    def request_slot(self, request: api.UploadRequest) -> api.Ticket:
        url = self.endpoint_url + api.UPLOADS_PATH

        def send() -> requests.Response:
            return self.session.post(
                url,
                json=request.body(),
                headers=request.headers(self._api_key),
                timeout=self._timeouts(),
                allow_redirects=False,  # the key never follows a redirect
            )

        response = self._with_retries(api.SLOT_REQUEST, send)
        try:
            payload = response.json()
        except ValueError as exc:
            raise UploadFailed("slot request: HTTP 201 with a body that is not JSON") from exc
        return api.parse_ticket(payload)

    def send_mail(
        self, slot: api.Slot, source: MailSource, file_name: str, progress: Progress | None = None
    ) -> None:
        size = source.size

        def send() -> requests.Response:
            stream = source.open()
            try:
                body = LengthReader(stream, size, progress)
                if slot.method == "PUT":
                    headers = {**slot.headers, "Content-Length": str(size)}
                    return self.session.put(slot.url, data=body, headers=headers, timeout=self._timeouts())
                form = MultipartEncoder(
                    fields=[*slot.fields.items(), ("file", (file_name, body, api.MAIL_CONTENT_TYPE))]
                )
                headers = {**slot.headers, "Content-Type": form.content_type}
                return self.session.post(slot.url, data=form, headers=headers, timeout=self._timeouts())
            finally:
                _close(stream)

        self._with_retries(api.UPLOAD, send)

    def upload(
        self, request: api.UploadRequest, source: MailSource, progress: Progress | None = None
    ) -> api.Ticket:
        ticket = self.request_slot(request)
        self.send_mail(ticket.slot, source, request.file_name, progress)
        return ticket

    # -- retries ----------------------------------------------------------------------

    @contextlib.contextmanager
    def budget(self, *, max_attempts: int, max_wait: float, backoff_cap: float) -> Iterator[None]:
        """Fewer and shorter retries inside the block (a queued mail: the queue waits instead)."""
        saved = (self.max_attempts, self.max_wait, self.backoff_cap)
        self.max_attempts = max(1, min(self.max_attempts, max_attempts))
        self.max_wait, self.backoff_cap = max_wait, min(self.backoff_cap, backoff_cap)
        try:
            yield
        finally:
            self.max_attempts, self.max_wait, self.backoff_cap = saved

    @contextlib.contextmanager
    def deadline(self, time_left: Callable[[], float | None] | None) -> Iterator[None]:
        """Inside the block, ``time_left`` bounds the retries (see ``__init__``): one invocation's
        deadline, handed down with it, for a client cached across invocations."""
        saved = self._time_left
        self._time_left = time_left
        try:
            yield
        finally:
            self._time_left = saved

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After, else capped full jitter."""
        if retry_after is not None:
            return min(retry_after, max(self.backoff_cap, 60.0) if self.max_wait is None else self.max_wait)
        return min(self.backoff_cap, self.backoff_base * (2**attempt)) * self._jitter()

    def _with_retries(self, step: str, send: Callable[[], requests.Response]) -> requests.Response:
        try:
            return self._attempts(step, send)
        except UploadFailed as exc:
            if exc.step is None:
                exc.step = step
            raise

    def _attempts(self, step: str, send: Callable[[], requests.Response]) -> requests.Response:
        last: str = "no attempt"
        status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            self.attempts[step] += 1
            retry_after: float | None = None
            try:
                response = send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                last, status = f"{type(exc).__name__}", None
            except VaultmailError:
                raise
            except requests.RequestException as exc:
                # not the exception's text: requests puts header values (the API key) in it
                raise UploadFailed(f"{step}: {type(exc).__name__}: the request could not be sent") from None
            else:
                if 200 <= response.status_code < 300:
                    return response
                status = response.status_code
                if 300 <= status < 400:
                    response.close()
                    raise redirect_refused(step, status, response.headers.get("Location"))
                if not api.is_retryable(status):
                    raise api.error_for(status, response.text, step=step)
                retry_after = api.parse_retry_after(response.headers.get("Retry-After"))
                last = f"HTTP {status}"
                response.close()
            self._before_retry(step, attempt, last, status, retry_after)
        raise UploadFailed(
            f"{step} failed after {self.max_attempts} attempts (last: {last})",
            status=status,
            retry_after=retry_after,
        )

    def _before_retry(
        self, step: str, attempt: int, last: str, status: int | None, retry_after: float | None
    ) -> None:
        """Wait before attempt ``attempt + 1``, or raise when the wait is not ours to make."""
        if retry_after is not None and self.max_wait is not None and retry_after > self.max_wait:
            raise UploadFailed(
                f"{step} failed ({last}, Retry-After {retry_after:g}s): left to the caller to wait",
                status=status,
                retry_after=retry_after,
            )
        if attempt >= self.max_attempts:
            return
        delay = self.backoff(attempt - 1, retry_after)
        left = self._left()
        if left is not None and left < delay + self.timeout[0]:
            raise UploadFailed(
                f"{step} failed (last: {last}); no time for attempt {attempt + 1} before the deadline",
                status=status,
                retry_after=retry_after,
            )
        log.warning("%s failed (%s), retry %d/%d in %.2fs", step, last, attempt, self.max_attempts - 1, delay)
        self._sleep(delay)

    def _left(self) -> float | None:
        return None if self._time_left is None else self._time_left()

    def _timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts, never past the deadline."""
        left = self._left()
        if left is None:
            return self.timeout
        if left <= 0:
            raise UploadFailed("no time left before the deadline")
        return (min(self.timeout[0], left), min(self.timeout[1], left))


LOOPBACK_NAMES = ("localhost",)


def checked_endpoint(url: str) -> str:
    """``url`` without a trailing slash, if the key may go there: HTTPS, or plain HTTP to a
    loopback address (127.0.0.0/8, ::1, localhost); anything else is a ConfigurationError."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if not host or scheme not in ("https", "http"):
        raise ConfigurationError(f"API_ENDPOINT_URL must be an https:// URL, got {_shown(url)!r}")
    if scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"API_ENDPOINT_URL must use https:// (plain http:// only to a loopback address, for local "
            f"stand-ins): {host} would receive the API key in clear text"
        )
    return url.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_refused(step: str, status: int, location: str | None) -> UploadFailed:
    """A 3xx answer to a request that carries the key: not followed, named by its target host."""
    target = (urlsplit(location).hostname or "the same host") if location else "no Location"
    return UploadFailed(
        f"{step}: HTTP {status} redirect to {target} not followed (the API key never follows a "
        "redirect); check API_ENDPOINT_URL",
        status=status,
    )


def _shown(url: str) -> str:
    """The URL without user info or query (which could hold a secret)."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else url[:40]


class _Adapter(HTTPAdapter):
    """Sends request bodies in 1 MiB blocks (http.client's default is 16 KiB: 3,200 reads of a
    50 MB mail through MultipartEncoder, whose small reads are slow)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", CHUNK)
        super().init_poolmanager(*args, **kwargs)


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = _Adapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "vaultmail/0.1"
    return session


def _close(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except Exception:  # closing a half-read HTTP body may fail; nothing to do about it
        log.debug("closing the mail stream failed", exc_info=True)
