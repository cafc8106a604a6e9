"""What the functions share lives in Globals.Function (issue 18, "The template"); after SAM's
translation each function still gets what it got when every function said it itself, and the
local stack reads the same (vaultmail_dev.cfn.function_properties)."""

from __future__ import annotations

from typing import Any

from vaultmail_dev.cfn import function_properties

from .test_template import DOWNLOAD, FUNCTIONS, RESOURCES, SCANNER, TEMPLATE, UPLOADERS, props, transformed

# The values before the shared ones moved into Globals (template.yaml at 3fde972).
TIMEOUTS = {UPLOADERS[0]: 900, UPLOADERS[1]: 900, SCANNER: 300, DOWNLOAD: 10}
MEMORY = {UPLOADERS[0]: 128, UPLOADERS[1]: 128, SCANNER: 256, DOWNLOAD: 256}
BACKOFF = {"QUEUE_BACKOFF_BASE_SECONDS": 60, "QUEUE_BACKOFF_CAP_SECONDS": 1800}


def test_each_function_keeps_its_timeout_memory_and_backoff_after_translation() -> None:
    out = transformed()["Resources"]
    for name in FUNCTIONS:
        lam = props(name, out)
        assert (lam["Timeout"], lam["MemorySize"]) == (TIMEOUTS[name], MEMORY[name]), name
        env = lam["Environment"]["Variables"]
        if name != DOWNLOAD:  # the queue-fed ones (the download function has no queue)
            assert {k: env[k] for k in BACKOFF} == BACKOFF, name
        assert lam["TracingConfig"] == {"Mode": "Active"} and lam["Architectures"] == ["arm64"]


def test_no_function_repeats_what_globals_says() -> None:
    glob = TEMPLATE["Globals"]["Function"]
    shared_env = glob["Environment"]["Variables"]
    for name in FUNCTIONS:
        own = props(name)
        repeated = {k for k in set(own) & set(glob) if k != "Environment" and own[k] == glob[k]}
        own_env = (own.get("Environment") or {}).get("Variables") or {}
        repeated |= {k for k in set(own_env) & set(shared_env) if own_env[k] == shared_env[k]}
        assert repeated == set(), (name, repeated)


def test_the_local_stack_reads_each_function_as_sam_translates_it() -> None:
    out = transformed()["Resources"]
    for name in FUNCTIONS:
        local: dict[str, Any] = function_properties(TEMPLATE, name)
        lam = props(name, out)
        for key in ("Timeout", "MemorySize", "Handler", "Runtime", "Architectures"):
            assert local[key] == lam[key], (name, key)
        assert local["Environment"]["Variables"] == lam["Environment"]["Variables"], name
        assert RESOURCES[name]["Type"] == "AWS::Serverless::Function"
