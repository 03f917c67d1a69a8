"""Reading a PDF the engine serves as a person and a scanner would: poppler renders and reads
its text, zbar reads its barcodes (Debian's poppler-utils and zbar-tools; .ci/run installs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def tool(name: str, package: str) -> str:
    """A Debian tool the test needs; missing, the test fails (CI installs it in .ci/run)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {package}")
    return path


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def pdf_text(pdf: Path) -> str:
    return run(tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-")


def scanned_codes(pdf: Path, dpi: int = 300) -> dict[str, str]:
    """What the page's barcodes hold, by zbar's name of their symbology (CODE-128, QR-Code)."""
    prefix = pdf.with_suffix("")
    run(
        tool("pdftoppm", "poppler-utils"),
        "-r",
        str(dpi),
        "-png",
        "-singlefile",
        str(pdf),
        str(prefix),
    )
    found = run(tool("zbarimg", "zbar-tools"), "-q", f"{prefix}.png").splitlines()
    return dict(line.split(":", 1) for line in found)
