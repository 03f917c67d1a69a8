"""The return label as a buyer prints it: rendered by poppler at a printer's resolution, its
barcodes read back by zbar, its text pulled out of the PDF, its Chinese drawn in ink."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from api.label_pdf import (
    CONTENT_WIDTH,
    MARGIN,
    LabelDocument,
    LabelItem,
    LabelParty,
    render_return_label,
    text_width,
    wrap_text,
)
from tests.support.pdf import run, tool

# A6 in points: 105 mm wide, 148 mm tall.
A6 = (297.64, 419.53)
# The sample label as the README shows it, rewritten at each run (small enough to commit).
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "return-label.png"
MAX_SCREENSHOT_BYTES = 100_000

LONG_ADDRESS = (
    "广东省深圳市南山区粤海街道科技园社区科苑路 15 号科兴科学园 B 栋 3 单元 2101 室"
    "（请联系前台代收，工作日 9:00–18:00，周末及节假日请放丰巢快递柜，取件码短信通知）"
    "\nNear the north gate of Shenzhen Bay Science and Technology Ecological Park " * 3
)

SAMPLE = LabelDocument(
    ticket_no="T-20261202-0001",
    carrier="sf",
    tracking_no="SF1234567890123",
    dropoff_code="DROP-7K2Q-M9XA",
    sender=LabelParty(
        name="李雷",
        address="上海市浦东新区世纪大道100号\n环球金融中心 58 层 5801 室（前台代收，"
        "工作日 9:00–18:00，周末请放快递柜）",
    ),
    recipient=LabelParty(
        name="华东退货仓",
        address="江苏省苏州市工业园区星湖街 328 号\n创意产业园 12 幢 退货组 Dock 3",
    ),
    issued_at=datetime(2026, 12, 2, 6, 30, tzinfo=UTC),
    items=(
        LabelItem("SKU-1", "Ceramic mug, 350 ml, matte black glaze, with a bamboo lid and box", 2),
        LabelItem("SKU-2", "龙井绿茶 250g 礼盒装（明前特级，附赠茶具一套与手提袋）", 1),
        LabelItem("SKU-3", "Stainless steel kettle 1.7 L", 1),
        LabelItem("SKU-4", "Tea towel set", 3),
        LabelItem("SKU-5", "保温杯 500ml 星空蓝", 1),
        LabelItem("SKU-6", "Coasters", 4),
        LabelItem("SKU-7", "Gift card", 1),
    ),
)


def rasterize(label: Path, dpi: int, name: str) -> Path:
    """The label's page as a PNG beside it, at `dpi`."""
    prefix = label.with_name(name)
    pdftoppm = tool("pdftoppm", "poppler-utils")
    run(pdftoppm, "-r", str(dpi), "-png", "-singlefile", str(label), str(prefix))
    return prefix.with_suffix(".png")


@pytest.fixture(scope="module")
def label(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("label") / "label.pdf"
    path.write_bytes(render_return_label(SAMPLE))
    return path


@pytest.fixture(scope="module")
def page(label: Path) -> Path:
    """The label as a 300 dpi PNG, as a label printer would print it."""
    return rasterize(label, 300, "page")


def scanned(page: Path, symbology: str) -> list[str]:
    """What zbar reads on the page in barcodes of one symbology ("code128", "qrcode")."""
    zbarimg = tool("zbarimg", "zbar-tools")
    out = run(zbarimg, "-Sdisable", f"-S{symbology}.enable", "--raw", "-q", str(page))
    return out.splitlines()


def words(label: Path) -> list[tuple[str, float, float, float, float]]:
    """Each word pdftotext finds, with its box (x_min, y_min, x_max, y_max) in points."""
    html = run(tool("pdftotext", "poppler-utils"), "-bbox", str(label), "-")
    pattern = re.compile(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    return [
        (text, float(x0), float(y0), float(x1), float(y1))
        for x0, y0, x1, y1, text in pattern.findall(html)
    ]


def test_the_barcodes_scan_back_to_the_tracking_number_and_the_dropoff_code(page: Path) -> None:
    assert scanned(page, "code128") == ["SF1234567890123"]
    assert scanned(page, "qrcode") == ["DROP-7K2Q-M9XA"]
    everything = run(tool("zbarimg", "zbar-tools"), "--raw", "-q", str(page)).splitlines()
    assert sorted(everything) == ["DROP-7K2Q-M9XA", "SF1234567890123"]


def test_the_text_names_the_ticket_the_parcel_the_warehouse_and_the_items(label: Path) -> None:
    text = run(tool("pdftotext", "poppler-utils"), "-layout", str(label), "-")
    assert "SF" in text and "RETURN" in text
    assert "Ticket T-20261202-0001" in text
    assert "Issued 2026-12-02" in text
    assert "SF1234567890123" in text
    assert "Drop-off code:" in text and "DROP-7K2Q-M9XA" in text
    assert "华东退货仓" in text
    assert "李雷" in text and "上海市浦东新区世纪大道100号" in text
    assert "SKU-1 × 2" in text
    # Seven items do not all fit under the QR code: the first few, then how many are left out.
    shown = re.findall(r"SKU-\d × \d", text)
    assert 1 <= len(shown) < 7
    assert f"+{7 - len(shown)} more" in text


def test_the_page_is_a6_with_the_ticket_in_its_title(label: Path) -> None:
    info = run(tool("pdfinfo", "poppler-utils"), str(label))
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert size is not None
    assert abs(float(size[1]) - A6[0]) < 1 and abs(float(size[2]) - A6[1]) < 1
    assert re.search(r"Pages:\s+1$", info, re.MULTILINE)
    assert re.search(r"Title:\s+Return label T-20261202-0001$", info, re.MULTILINE)


def test_chinese_is_drawn_as_glyphs_not_boxes(label: Path) -> None:
    """Without a Chinese font, poppler draws STSong-Light's characters as nothing or as identical
    boxes. At 288 dpi (4 px a point) each character of the 8 pt sender address is a 32 px cell:
    eleven different characters must leave eleven different, inked cells; the names, ink."""
    image = Image.open(rasterize(label, 288, "glyphs")).convert("L")
    found = {text: (x0, y0, x1, y1) for text, x0, y0, x1, y1 in words(label)}
    x0, y0, _, y1 = (round(edge * 4) for edge in found["上海市浦东新区世纪大道100号"])
    cells = [image.crop((x0 + 32 * i, y0, x0 + 32 * (i + 1), y1)) for i in range(11)]
    assert all(ink(cell) > 0.08 for cell in cells), [round(ink(cell), 2) for cell in cells]
    assert len({cell.tobytes() for cell in cells}) == 11
    for name in ("李雷", "华东退货仓"):
        left, top, right, bottom = (round(edge * 4) for edge in found[name])
        box = image.crop((left, top, right, bottom))
        assert ink(box) > 0.15, f"{name!r} is drawn without ink"


def ink(image: Image.Image) -> float:
    """The share of an image's pixels that are dark."""
    histogram = image.histogram()
    return sum(histogram[:128]) / sum(histogram)


def test_the_sample_label_is_kept_in_the_docs(label: Path) -> None:
    shot = label.with_name("screenshot-gray.png")
    Image.open(rasterize(label, 150, "screenshot")).convert("L").save(shot, optimize=True)
    assert 0 < shot.stat().st_size <= MAX_SCREENSHOT_BYTES
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)


def test_a_long_address_stays_on_the_page(tmp_path: Path) -> None:
    document = replace(
        SAMPLE,
        sender=LabelParty("李雷" * 40, LONG_ADDRESS),
        recipient=LabelParty("East China Returns Warehouse " * 6, LONG_ADDRESS),
    )
    label = tmp_path / "long.pdf"
    label.write_bytes(render_return_label(document))
    found = words(label)
    assert found
    # Every word inside the page's margins (give or take a glyph's side bearing).
    for text, x0, y0, x1, y1 in found:
        assert MARGIN - 1 <= x0 <= x1 <= A6[0] - MARGIN + 1, f"{text!r} at x {x0:.1f} to {x1:.1f}"
        assert MARGIN - 2 <= y0 <= y1 <= A6[1] - MARGIN + 2, f"{text!r} at y {y0:.1f} to {y1:.1f}"
    tracking = [w for w in found if w[0] == "SF1234567890123"]
    assert len(tracking) == 1
    assert "…" in run(tool("pdftotext", "poppler-utils"), str(label), "-")
    page = rasterize(label, 300, "long")
    assert scanned(page, "code128") == ["SF1234567890123"]
    assert scanned(page, "qrcode") == ["DROP-7K2Q-M9XA"]


def test_the_same_document_gives_the_same_bytes() -> None:
    first = render_return_label(SAMPLE)
    assert render_return_label(replace(SAMPLE)) == first
    # In another process too, with its own hash seed: a reprint is the same file.
    script = (
        "import sys; from tests.unit.test_label_pdf import SAMPLE, render_return_label; "
        "sys.stdout.buffer.write(render_return_label(SAMPLE))"
    )
    root = Path(__file__).resolve().parents[2]
    other = subprocess.run(
        [sys.executable, "-c", script], cwd=root, check=True, capture_output=True
    )
    assert other.stdout == first
    assert render_return_label(replace(SAMPLE, tracking_no="SF1234567890124")) != first


def test_an_address_wraps_between_chinese_characters_and_ends_in_an_ellipsis() -> None:
    lines = wrap_text(LONG_ADDRESS, 9, CONTENT_WIDTH, 3)
    assert len(lines) == 3
    assert lines[0].startswith("广东省深圳市南山区")
    assert lines[-1].endswith("…")
    assert all(text_width(line, 9) <= CONTENT_WIDTH for line in lines)
    assert wrap_text("江苏省苏州市\nDock 3", 9, CONTENT_WIDTH, 3) == ["江苏省苏州市", "Dock 3"]


def test_a_tracking_number_code_128_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="Code 128"):
        render_return_label(replace(SAMPLE, tracking_no="顺丰123"))
