"""Screenshots the browser tests keep in docs/screenshots, rewritten at each run."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Kept small enough to commit.
MAX_SCREENSHOT_BYTES = 300_000


async def whole_page(page: Page, path: Path) -> None:
    """The whole page, which the capture (it resizes the viewport to the page) leaves as it was."""
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.screenshot(path=str(path), full_page=True)
    await page.wait_for_timeout(300)
    assert await page.evaluate("document.documentElement.scrollHeight") == height


def keep(page_shot: Path, name: str) -> None:
    size = page_shot.stat().st_size
    assert 0 < size <= MAX_SCREENSHOT_BYTES, (name, size)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page_shot, SCREENSHOTS / name)
