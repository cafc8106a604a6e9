"""Development-only helpers of vaultmail: never shipped in the Lambda layer.

* ``vaultmail_dev.emulator``: a local emulator of the Active Store upload API (v1);
* ``vaultmail_dev.servers``: moto and the emulator, in-process or as child processes.

The names below are imported lazily so that ``python -m vaultmail_dev.emulator`` does not
import the module twice.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import Emulator, FaultRule
    from .servers import MotoHandle, aws_env, free_port, spawn_emulator, spawn_moto, start_moto

__all__ = [
    "Emulator",
    "FaultRule",
    "MotoHandle",
    "aws_env",
    "free_port",
    "spawn_emulator",
    "spawn_moto",
    "start_moto",
]

_HOMES = {
    "Emulator": "emulator",
    "FaultRule": "emulator",
    "MotoHandle": "servers",
    "aws_env": "servers",
    "free_port": "servers",
    "spawn_emulator": "servers",
    "spawn_moto": "servers",
    "start_moto": "servers",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
