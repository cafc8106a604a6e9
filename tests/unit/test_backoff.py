"""The queue backoff schedule (vaultmail.backoff): growth, cap, jitter, Retry-After, SQS limits."""

from __future__ import annotations

import pytest

from vaultmail import backoff


def test_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [backoff.delay(n, base=60, cap=1800) for n in range(1, 9)]
    assert waits == [60, 120, 240, 480, 960, 1800, 1800, 1800]


def test_jitter_only_lengthens_the_wait_by_at_most_a_fifth() -> None:
    assert backoff.delay(3, jitter=0.0) == 240
    assert backoff.delay(3, jitter=0.999) == 288  # 240 * 1.2, rounded up
    assert all(240 <= backoff.delay(3, jitter=j / 10) <= 288 for j in range(10))
    with pytest.raises(ValueError):
        backoff.delay(3, jitter=1.0)


def test_retry_after_wins_when_longer_and_sqs_caps_everything() -> None:
    assert backoff.delay(1, retry_after=300) == 300
    assert backoff.delay(1, retry_after=5) == 60  # shorter than the schedule: the schedule
    assert backoff.delay(1, retry_after=10**9) == backoff.MAX_DELAY
    assert backoff.MAX_DELAY + backoff.INVOCATION_MAX == 43_200  # 12 h from the receive


def test_huge_receive_counts_do_not_overflow() -> None:
    assert backoff.delay(10_000) == backoff.CAP_SECONDS


def test_tolerance_is_the_sum_of_the_waits_without_jitter() -> None:
    assert backoff.tolerance(1, base=60, cap=1800) == 60
    assert backoff.tolerance(6, base=60, cap=1800) == 60 + 120 + 240 + 480 + 960 + 1800
    assert backoff.tolerance(18) == 1860 + 13 * 1800


def test_longest_bounds_every_jitter_and_retry_after() -> None:
    worst = sum(backoff.delay(n, retry_after=10**9) + backoff.INVOCATION_MAX for n in range(1, 19))
    assert backoff.longest(18) == worst


@pytest.mark.parametrize(("count", "base", "cap"), [(0, 60, 1800), (1, 0, 1800), (1, 60, 30)])
def test_bad_arguments_are_refused(count: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff.delay(count, base=base, cap=cap)
