"""`RetryPolicy` / `Retries`: the one backoff schedule the HTTP clients share."""

import pytest

from assay.verifiers.retry import Retries, RetryPolicy, retry_after_s


def policy(max_retries=3, backoff_s=1.0, cap_s=3.0, jitter=(1.0, 1.0), statuses=(429,)):
    return RetryPolicy(max_retries, backoff_s, cap_s, jitter, frozenset(statuses))


def test_waits_double_up_to_the_cap_then_run_out():
    retries = policy(max_retries=4).retries()
    assert [retries.next_wait() for _ in range(5)] == [1.0, 2.0, 3.0, 3.0, None]
    assert retries.attempts == 5


def test_zero_retries_means_one_attempt():
    retries = policy(max_retries=0).retries()
    assert retries.next_wait() is None


def test_the_servers_retry_after_is_the_wait_and_the_backoff_still_grows():
    retries = policy(max_retries=3).retries()
    assert retries.next_wait(retry_after=7.5) == 7.5
    assert retries.next_wait() == 2.0
    assert retries.next_wait(retry_after=0.0) == 0.0
    assert retries.next_wait(retry_after=1.0) is None  # spent: the server's word does not extend it


@pytest.mark.parametrize("jitter", [(0.5, 1.0), (0.5, 1.5)])
def test_jitter_stays_in_its_band(jitter):
    low, high = jitter
    for _ in range(200):
        wait = policy(max_retries=1, backoff_s=2.0, cap_s=10.0, jitter=jitter).retries().next_wait()
        assert wait is not None and 2.0 * low <= wait < 2.0 * high


def test_each_call_counts_afresh():
    p = policy(max_retries=1)
    first, second = p.retries(), p.retries()
    assert first.next_wait() == 1.0 and first.next_wait() is None
    assert second.next_wait() == 1.0 and isinstance(second, Retries)


def test_statuses_and_checks():
    assert policy(statuses=(429, 503)).retryable(503) and not policy().retryable(500)
    with pytest.raises(ValueError, match="max_retries must be >= 0"):
        policy(max_retries=-1)
    with pytest.raises(ValueError, match="jitter"):
        policy(jitter=(1.0, 0.5))


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("2", 2.0), ("0.25", 0.25), ("-3", 0.0), ("120", 30.0), ("Wed, 21 Oct 2015", None)],
)
def test_retry_after_header(header, expected):
    assert retry_after_s(header) == expected
