"""The rules the README shows a merchant writing are rules the engine takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from domain.rules import FACTS, Outcome, RuleSet, check_rules

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text.split("## Merchant rules", 1)[1].split("\n## ", 1)[0]


def test_the_readme_example_rules_are_valid() -> None:
    [example] = re.findall(r"```json\n(.*?)```", _section(), re.S)
    rules = RuleSet(version="readme", **json.loads(example))
    assert len(rules.rules) == 5
    assert check_rules(rules) == []


def test_the_readme_names_every_fact() -> None:
    table = _section().split("**Facts**", 1)[1].split("**Outcomes**", 1)[0]
    named = set(re.findall(r"`([a-z_0-9]+)`", table))
    assert set(FACTS) <= named


def test_the_readme_names_every_outcome() -> None:
    table = _section().split("**Outcomes**", 1)[1].split("**What always wins", 1)[0]
    named = set(re.findall(r"`([a-z_0-9]+)", table))
    assert set(Outcome.model_fields) <= named
