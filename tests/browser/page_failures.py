"""What went wrong on a page while a browser test drove it."""

from __future__ import annotations

from playwright.async_api import Page


def watch(page: Page) -> list[str]:
    """Script errors, failed requests and console errors (a CSP refusal is one), as they come."""
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(f"error: {error}"))
    page.on("requestfailed", lambda request: failures.append(f"failed: {request.url}"))
    page.on(
        "console",
        lambda message: (
            failures.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    return failures
