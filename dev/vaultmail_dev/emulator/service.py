"""The Emulator: its settings and lifecycle, the API key, fault rules and hit counts, and the
slot store (slots.py) that the HTTP handler (handler.py) serves."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, cast

from .bodies import Receiver
from .contract import (
    DEFAULT_API_KEY,
    DEFAULT_BUCKET,
    DEFAULT_DOMAINS,
    TARGETS,
    ApiError,
    SlotMethod,
    SlotRequest,
    Target,
)
from .faults import FaultRule
from .handler import Handler, Server
from .slots import Grant, SlotStore, Stored, UploadRecord, _s3_client

log = logging.getLogger(__name__)


class Emulator:
    """The Active Store upload API on 127.0.0.1, storing into an S3 emulator at ``moto_url``."""

    def __init__(
        self,
        moto_url: str,
        *,
        domains: Iterable[str] = DEFAULT_DOMAINS,
        api_key: str = DEFAULT_API_KEY,
        slot_method: SlotMethod | str = "POST",
        bucket: str = DEFAULT_BUCKET,
        slot_ttl: int = 900,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        aws_credentials: tuple[str, str] | None = None,
        one_use_slots: bool = False,
    ) -> None:
        """``aws_credentials`` (access key id, secret) for moto when it checks IAM; else dummies.

        ``one_use_slots``: every step 1 is a fresh upload (a new uploadId) whose slot stores
        once; by default the same Idempotency-Key keeps its uploadId and slots can be reused
        until they expire."""
        method = str(slot_method).upper()
        if method not in ("PUT", "POST"):
            raise ValueError("slot_method must be PUT or POST")
        self.moto_url = moto_url.rstrip("/")
        self.domains = frozenset(d.strip().lower() for d in domains if d.strip())
        if not self.domains:
            raise ValueError("at least one domain is needed")
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock = clock  # replace (e.g. in a test) to move the emulator's time
        self._api_key = api_key
        self._lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self._hits: dict[str, int] = dict.fromkeys(TARGETS, 0)
        self.slots = SlotStore(
            _s3_client(self.moto_url, aws_credentials),
            bucket=bucket,
            slot_method=cast(SlotMethod, method),
            slot_ttl=slot_ttl,
            clock=lambda: self.clock(),
            one_use=one_use_slots,
        )
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never show the key
        return f"Emulator(url={self.url if self._server else None!r}, slot={self.slot_method})"

    @property
    def slot_method(self) -> SlotMethod:
        return self.slots.slot_method

    @property
    def one_use_slots(self) -> bool:
        return self.slots.one_use

    @property
    def bucket(self) -> str:
        return self.slots.bucket

    @property
    def slot_ttl(self) -> int:
        return self.slots.slot_ttl

    # -- lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        server = Server((self.host, self.port), Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vaultmail-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("emulator listening on %s (slots: %s)", self.url, self.slot_method)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        host = str(host)
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # -- inspection and control (also over HTTP: control.py)

    def records(self) -> list[dict[str, Any]]:
        """Every upload seen (step 1), oldest first, as ``GET /_emulator/uploads`` gives them."""
        return self.slots.records()

    def vaults(self) -> dict[str, list[str]]:
        """``{vault: [s3 keys]}`` of the objects in the bucket."""
        return self.slots.vaults()

    @property
    def hits(self) -> dict[str, int]:
        """Requests received per target (``uploads``, ``slot``), faults included."""
        with self._lock:
            return dict(self._hits)

    def add_faults(self, rules: Iterable[Mapping[str, Any] | FaultRule]) -> None:
        """Append fault rules (all or none: a bad rule raises ValueError)."""
        parsed = [FaultRule.from_json(dict(r) if isinstance(r, Mapping) else r) for r in rules]
        with self._lock:
            self._faults.extend(parsed)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget records, faults and hits (the bucket is moto's: reset moto for that)."""
        self.slots.reset()
        with self._lock:
            self._faults.clear()
            self._hits = dict.fromkeys(TARGETS, 0)

    # -- used by the handler

    def check_api_key(self, given: str | None) -> None:
        if given is None or not hmac.compare_digest(given.encode(), self._api_key.encode()):
            raise ApiError(401, "Unauthorized", "missing or invalid API key")

    def hit(self, target: Target, vaults: Sequence[str] | None = None) -> FaultRule | None:
        """Count a request and take the first fault rule that applies to it; with ``vaults``
        (a slot request read, already counted), the first rule for one of those vaults."""
        with self._lock:
            if vaults is None:
                self._hits[target] += 1
            for index, rule in enumerate(self._faults):
                wanted = rule.vault is None if vaults is None else rule.vault in vaults
                if rule.target == target and wanted:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._faults[index]
                    return FaultRule(**{**rule.__dict__, "times": 1})
        return None

    def issue(self, request: SlotRequest, vaults: Sequence[str], base_url: str) -> dict[str, Any]:
        """Register a step-1 request and answer it with a fresh slot (see slots.py)."""
        return self.slots.issue(request, vaults, base_url)

    @staticmethod
    def put_headers(sha256: str) -> dict[str, str]:
        """The headers a PUT slot is signed with (and must be sent with)."""
        return SlotStore.put_headers(sha256)

    def sign(self, upload_id: str, expires: int, size: int) -> str:
        return self.slots.sign(upload_id, expires, size)

    def lookup(self, upload_id: str) -> UploadRecord:
        return self.slots.lookup(upload_id)

    def verify(
        self, record: UploadRecord, expires: str | None, signature: str | None, key: str | None = None
    ) -> Grant:
        return self.slots.verify(record, expires, signature, key)

    def store(self, grant: Grant, received: Receiver) -> Stored:
        return self.slots.store(grant, received)
