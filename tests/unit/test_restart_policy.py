"""The run command's restart policy as pure bookkeeping: backoff, giving up, forgiving."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stack.supervisor import RestartHistory, RestartPolicy

POLICY = RestartPolicy()


def test_the_defaults_are_the_documented_ones() -> None:
    assert (POLICY.first_delay, POLICY.max_delay) == (0.5, 30.0)
    assert (POLICY.max_restarts, POLICY.window, POLICY.stable_after) == (5, 60.0, 30.0)


def test_quick_deaths_back_off_doubling_then_give_up_at_the_sixth() -> None:
    history = RestartHistory(POLICY)
    now, delays = 0.0, []
    for _ in range(5):
        delay = history.next_delay(now, ran_for=1.0)
        assert delay is not None
        delays.append(delay)
        now += delay + 1.0
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert history.next_delay(now, ran_for=1.0) is None


def test_the_delay_stops_growing_at_the_cap() -> None:
    assert [POLICY.delay(n) for n in (5, 6, 7, 20)] == [16.0, 30.0, 30.0, 30.0]


def test_restarts_older_than_the_window_no_longer_count() -> None:
    """A child dying every 20 s backs off further and further, but is never given up on: no 60 s
    holds six of its deaths."""
    history = RestartHistory(POLICY)
    now = 0.0
    delays = []
    for _ in range(10):
        now += 20.0
        delay = history.next_delay(now, ran_for=20.0)
        assert delay is not None
        delays.append(delay)
        now += delay
    assert delays[:3] == [0.5, 1.0, 2.0] and delays[-1] == 30.0


def test_a_run_that_lasted_resets_the_count_and_the_backoff() -> None:
    history = RestartHistory(POLICY)
    for second in range(5):
        assert history.next_delay(float(second), ran_for=0.1) is not None
    assert history.next_delay(5.0 + POLICY.stable_after, ran_for=POLICY.stable_after) == 0.5
    assert history.failures == 1 and len(history.restarts) == 1


def test_a_stricter_policy_gives_up_sooner() -> None:
    history = RestartHistory(RestartPolicy(first_delay=1.0, max_restarts=1, window=10.0))
    assert history.next_delay(0.0, ran_for=0.0) == 1.0
    assert history.next_delay(2.0, ran_for=1.0) is None


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), max_size=40))
def test_never_more_than_max_restarts_within_any_window(gaps: list[tuple[float, float]]) -> None:
    """Whatever the pattern of deaths, the restarts it allows never crowd one window, and every
    delay stays within the policy's bounds."""
    history = RestartHistory(POLICY)
    now, allowed = 0.0, []
    for gap, ran_for in gaps:
        # A child that ran for `ran_for` s died at least that long after it was last started.
        now += max(gap, ran_for)
        delay = history.next_delay(now, ran_for)
        if delay is None:
            break
        assert POLICY.first_delay <= delay <= POLICY.max_delay
        allowed.append((now, ran_for))
    for first, (at, _) in enumerate(allowed):
        crowd = 0
        for when, ran_for in allowed[first:]:
            if when > at + POLICY.window or (when > at and ran_for >= POLICY.stable_after):
                break  # out of the window, or a long run that forgave what came before
            crowd += 1
        assert crowd <= POLICY.max_restarts
