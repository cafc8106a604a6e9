"""Delivery during an API outage, on the local stack (the built S3 uploader fed by its SQS queue).

1. Outage tolerance read from template.yaml and vaultmail.backoff: the sum of the visibility
   timeouts over maxReceiveCount receives (goal: at least 6 h).
2. 1,000 mails dropped into the mail bucket while the API answers 503: the most executions
   that ran at once (counted by the local stack's pool of execution environments, which is
   allowed more than the cap; goal: at most ApiConcurrency, default 10).
3. Execution-seconds per mail per delivery during the outage (the invocations' wall time over
   the mails delivered, on warm execution environments), and per mail over a 6-hour outage:
   that figure times the deliveries the backoff schedule makes in 6 hours (goal: at most
   1.1 s; before the queues, ~11 s for 503).
4. The API back: the archive rate of those 1,000 mails at the default cap (mails/s, from the
   first archived mail to the last, on this machine).

The longest outage invocation (a batch of up to 10 reporting its failures) is also reported
(goal: under 30 s). Real time (no scaling): the mails wait their first backoff step (60-72 s) before step 4.
Run by ``make bench`` (needs python3.13; sam build runs if needed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse

from vaultmail import backoff
from vaultmail.settings import Settings
from vaultmail_dev.cfn import function_properties
from vaultmail_dev.mails import mail
from vaultmail_dev.stack import LocalStack

sys.path.insert(0, str(Path(__file__).parent))
from _context import context, summary, write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "outage.json"
MAILS = 1000
SIX_HOURS = 6 * 3600


def tolerance_from_template() -> dict[str, Any]:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    resources = template["Resources"]
    found = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        function = function_properties(template, name)  # Globals merged, as SAM does
        for event in (function.get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            queue = resources[event["Properties"]["Queue"]["Fn::GetAtt"][0]]["Properties"]
            variables = function["Environment"]["Variables"]
            env = {k: str(v) for k, v in variables.items() if not isinstance(v, dict)}
            settings = Settings.from_env(env)
            receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
            seconds = backoff.tolerance(
                receives, base=settings.queue_backoff_base, cap=settings.queue_backoff_cap
            )
            found[name] = {"maxReceiveCount": receives, "tolerance_hours": round(seconds / 3600, 2)}
    return {
        "per_function": found,
        "goal_hours": 6,
        "goal_met": all(f["tolerance_hours"] >= 6 for f in found.values()),
    }


def deliveries_in(seconds: float) -> int:
    """How many times the schedule delivers a mail within ``seconds`` of its first delivery."""
    elapsed, count = 0.0, 1
    while True:
        elapsed += backoff.delay(count)
        if elapsed > seconds:
            return count
        count += 1


def store_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The emulator's uploads by how often each was stored. An upload appears at step 1 (its slot
    request), before its store: one still being stored (``stores`` 0) is not archived yet, not
    stored twice. Each stored twice is shown with its step-1 requests: 1 means the client sent
    the same store again (an answer lost), 2 or more that the mail was archived again."""
    twice = [r for r in records if r["stores"] > 1]
    return {
        "archived": sum(r["stores"] >= 1 for r in records),
        "stored_more_than_once": len(twice),
        "not_stored": sum(r["stores"] == 0 for r in records),
        "stored_more_than_once_requests_and_stores": [[r["requests"], r["stores"]] for r in twice],
    }


def run_outage(cap: int, mails: int = MAILS, *, recover: bool = True) -> dict[str, Any]:
    with LocalStack(parameters={"ApiConcurrency": str(cap)}, max_environments=cap + 5) as stack:
        source, pool = stack.source("s3_uploader"), stack.function("s3_uploader")
        s3 = stack.client("s3")
        pool.warm(cap)  # warm environments: the cold starts are not counted as outage work
        stack.emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**7}])
        for i in range(mails):
            s3.put_object(Bucket=stack.bucket(), Key=f"outage/{i:04}.eml", Body=mail(f"outage mail {i}"))
        deadline = time.monotonic() + 900
        while source.stats.messages < mails + 1 and time.monotonic() < deadline:  # + S3's test event
            time.sleep(0.2)
        while not source.idle():
            time.sleep(0.1)
        delivered, busy = source.stats.messages, source.stats.busy_seconds
        outage = {
            "mails": mails,
            "deliveries": delivered,
            "invocations": source.stats.invocations,
            "api_requests": stack.emulator.hits["uploads"],
            "peak_concurrent_executions": pool.peak,
            "peak_concurrent_invocations_of_the_source": source.stats.peak_running,
            "cap": cap,
            "goal_met": pool.peak <= cap,
            "execution_seconds_per_mail_per_delivery": round(busy / delivered, 4),
            "longest_invocation_seconds": round(source.stats.longest_seconds, 2),
            "longest_invocation_goal_seconds": 30,
        }
        per_six_hours = deliveries_in(SIX_HOURS)
        outage["deliveries_per_mail_in_6h"] = per_six_hours
        outage["execution_seconds_per_mail_over_6h"] = round(busy / delivered * per_six_hours, 3)
        outage["execution_seconds_goal"] = 1.1
        outage["execution_seconds_goal_met"] = outage["execution_seconds_per_mail_over_6h"] <= 1.1
        if not recover:
            return {"outage": outage}
        stack.emulator.clear_faults()
        first = last = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            count = store_counts(stack.emulator.records())["archived"]
            now = time.monotonic()
            if count and first is None:
                first = now
            if count >= MAILS:
                last = now
                break
            time.sleep(0.1)
        while not source.idle() and time.monotonic() < deadline:  # a late second store would count
            time.sleep(0.1)
        recovery = {
            **store_counts(stack.emulator.records()),
            "seconds_first_to_last": round((last or time.monotonic()) - (first or 0), 1),
            "archive_rate_mails_per_s": round(MAILS / ((last or 0) - (first or 0)), 1)
            if first and last
            else None,
            "cap": cap,
            "peak_concurrent_executions": pool.peak,
        }
        return {"outage": outage, "recovery": recovery}


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One summary per figure issue 11 asks of the bench (bench/_context.summary)."""
    tolerance, outage, recovery = result["tolerance"], result["outage"], result["recovery"]
    hours = min(f["tolerance_hours"] for f in tolerance["per_function"].values())
    return [
        summary("outage tolerance read from the template >= 6 h", tolerance["goal_met"], f"{hours} h"),
        summary(
            f"peak concurrent executions during an outage with {outage['mails']} mails waiting <= the cap",
            outage["goal_met"],
            f"{outage['peak_concurrent_executions']} at cap {outage['cap']}",
        ),
        summary(
            "a batch reports its failures within 30 s during an outage",
            outage["longest_invocation_seconds"] <= 30,
            f"longest invocation {outage['longest_invocation_seconds']} s",
        ),
        summary(
            f"execution-seconds per mail over a 6-hour outage at the default cap ({outage['cap']}) <= 1.1 s "
            "(1/10 of the ~11 s before queues)",
            outage["execution_seconds_goal_met"],
            f"{outage['execution_seconds_per_mail_over_6h']} s "
            f"({outage['execution_seconds_per_mail_per_delivery']} s per delivery "
            f"x {outage['deliveries_per_mail_in_6h']} deliveries)",
        ),
        summary(
            "every mail archived after recovery, none stored twice",
            recovery["archived"] == outage["mails"] and recovery["stored_more_than_once"] == 0,
            f"{recovery['archived']} archived, {recovery['stored_more_than_once']} stored more than once, "
            f"{recovery['archive_rate_mails_per_s']} mails/s at cap {recovery['cap']}",
        ),
    ]


def main() -> int:
    started = context()
    result: dict[str, Any] = {"tolerance": tolerance_from_template()}
    result |= run_outage(cap=10)  # the template's default ApiConcurrency
    # the same with 2 executions: less contention for this machine's 2 cores, which the local
    # stack (moto, the emulator, the event source: one Python process) shares with the functions
    result["outage_at_cap_2"] = run_outage(cap=2, mails=200, recover=False)["outage"]
    write("outage", result, goals(result), started)
    ok = (
        result["tolerance"]["goal_met"]
        and result["outage"]["goal_met"]
        and result["recovery"]["archived"] == MAILS
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
