"""The control API, ``/_emulator/*``: inspection (uploads, vaults, hits, health), fault rules
and reset, so that a test or a demo in another process can drive the emulator."""

from __future__ import annotations

import json

from .backend import ControlRequest
from .bodies import MAX_JSON_BYTES, read_all
from .contract import ApiError, bad_request


def serve(handler: ControlRequest, name: str, method: str) -> None:
    emulator = handler.emulator
    if name == "uploads":
        handler.only(method, "GET")
        handler.send_json(200, emulator.records())
    elif name == "vaults":
        handler.only(method, "GET")
        handler.send_json(200, emulator.vaults())
    elif name == "hits":
        handler.only(method, "GET")
        handler.send_json(200, emulator.hits)
    elif name == "health":
        handler.only(method, "GET")
        handler.send_json(
            200,
            {
                "ok": True,
                "slotMethod": emulator.slot_method,
                "oneUseSlots": emulator.one_use_slots,
                "domains": sorted(emulator.domains),
                "bucket": emulator.bucket,
            },
        )
    elif name == "faults":
        handler.only(method, "GET", "POST", "DELETE")
        _faults(handler, method)
    elif name == "reset":
        handler.only(method, "POST")
        emulator.reset()
        handler.respond(204)
    else:
        raise ApiError(404, "NotFound", "no such control resource")


def _faults(handler: ControlRequest, method: str) -> None:
    emulator = handler.emulator
    if method == "DELETE":
        emulator.clear_faults()
        handler.respond(204)
        return
    if method == "POST":
        assert handler.body_reader is not None
        try:
            rules = json.loads(read_all(handler.body_reader, MAX_JSON_BYTES))
            emulator.add_faults(rules if isinstance(rules, list) else [rules])
        except ValueError as exc:
            raise bad_request(f"bad fault rules: {exc}") from None
    handler.send_json(200, {"faults": emulator.faults()})
