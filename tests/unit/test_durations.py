"""Deadlines in a timeline read as SPEC §3 words them."""

from datetime import timedelta

import pytest

from domain.durations import describe, describe_span


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(hours=48), "48 h"),
        (timedelta(hours=24), "24 h"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=7), "7 days"),
        (timedelta(days=15), "15 days"),
        (timedelta(days=3), "3 days"),
        (timedelta(minutes=90), "90 min"),
        (timedelta(seconds=40), "40 s"),
        (timedelta(seconds=3601), "3601 s"),
    ],
)
def test_describe(duration: timedelta, words: str) -> None:
    assert describe(duration) == words


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(milliseconds=400), "under 1 s"),
        (timedelta(seconds=-5), "under 1 s"),
        (timedelta(seconds=20), "20 s"),
        (timedelta(seconds=123), "2 min 3 s"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=1, seconds=59), "1 h"),
        # Time left is never told as more than there is.
        (timedelta(hours=13, minutes=59, seconds=59), "13 h 59 min"),
        (timedelta(hours=48, seconds=5), "48 h"),
        (timedelta(days=3, hours=2, seconds=5), "3 days 2 h"),
    ],
)
def test_describe_span(duration: timedelta, words: str) -> None:
    assert describe_span(duration) == words
