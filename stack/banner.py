"""What the run command prints once the API is ready."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoKey:
    label: str
    role: str
    subject_id: str
    api_key: str


def read_demo_keys(path: Path) -> list[DemoKey]:
    """demo-keys.json maps a label ("buyer:buyer-1") to {"role", "subject_id", "api_key"}."""
    if not path.exists():
        return []
    entries: dict[str, dict[str, str]] = json.loads(path.read_text())
    return [
        DemoKey(label, entry["role"], str(entry.get("subject_id") or "-"), entry["api_key"])
        for label, entry in entries.items()
    ]


def banner(api_url: str, ui_url: str, keys_path: Path, keys: list[DemoKey]) -> str:
    lines = [
        "",
        "After-sales engine is up.  Ctrl-C stops everything.",
        f"  API docs     {api_url}/docs",
        f"  Temporal UI  {ui_url}",
        f"  Demo keys    {keys_path}",
    ]
    if keys:
        width = max(len(key.role) for key in keys)
        subject_width = max(len(key.subject_id) for key in keys)
        lines += [
            f"    {key.role:<{width}}  {key.subject_id:<{subject_width}}  {key.api_key}"
            for key in keys
        ]
        example = next((key for key in keys if key.role == "buyer"), keys[0])
        lines += [
            "  Try:",
            f'    curl -s -H "Authorization: Bearer {example.api_key}" {api_url}/v1/tickets',
        ]
    else:
        lines.append("    (no keys found: did the seed step write the file?)")
    return "\n".join([*lines, ""])
