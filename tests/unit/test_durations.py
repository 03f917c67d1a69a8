"""Deadlines in a timeline read as SPEC §3 words them."""

from datetime import timedelta

import pytest

from domain.durations import describe


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
