"""The buyer's return label: one A6 page that the buyer prints (or shows at a drop-off point) and
sticks on the parcel going back to the merchant's returns warehouse.

The courier scans the Code 128 barcode of the tracking number; the drop-off point scans the QR code
of the drop-off code. Names, addresses and item titles may be Chinese: their Chinese characters are
set in reportlab's built-in CID font STSong-Light, which needs no font file (the PDF viewer or the
printer supplies its glyphs), and the Latin letters and digits around them in Helvetica, which
keeps a mixed line such as "上海市 Room 5801" evenly spaced.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

PAGE_WIDTH = 105 * mm
PAGE_HEIGHT = 148 * mm
MARGIN = 5 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
# STSong-Light has no bold: bold Chinese is filled and stroked with this pen.
CJK_BOLD_STROKE = 0.35
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
TIMES = "\N{MULTIPLICATION SIGN}"

# Code 128: the narrowest bar is as wide as fits, up to 0.42 mm, with quiet zones of 10 bars on
# either side: 0.3 mm or more for a tracking number of up to 23 letters, or 43 characters when
# most are digits (Code 128 packs two digits in a bar pattern).
MAX_BAR_WIDTH = 0.42 * mm
BARCODE_HEIGHT = 17 * mm
QUIET_BARS = 10
# The QR symbol itself, whatever its version; the white kept around it is its quiet zone.
QR_SIZE = 27 * mm
QR_QUIET = 5 * mm

pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


@dataclass(frozen=True)
class LabelParty:
    name: str
    address: str  # may contain newlines; may be Chinese text


@dataclass(frozen=True)
class LabelItem:
    sku: str
    title: str
    quantity: int


@dataclass(frozen=True)
class LabelDocument:
    ticket_no: str
    carrier: str  # carrier code, e.g. "sf"
    tracking_no: str  # e.g. "SF1234567890123"
    dropoff_code: str  # the QR code's payload, e.g. "DROP-7K2Q-M9XA"
    sender: LabelParty  # the buyer, who ships the parcel back
    recipient: LabelParty  # the merchant's returns warehouse
    issued_at: datetime
    items: tuple[LabelItem, ...] = ()


def render_return_label(document: LabelDocument) -> bytes:
    """The label as a one-page PDF (A6 portrait, 105 × 148 mm, the size label printers take)."""  # noqa: RUF002
    _check_tracking_no(document.tracking_no)
    buffer = io.BytesIO()
    # invariant: no creation date or random document id, so a label reprints byte for byte.
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    canvas.setTitle(f"Return label {document.ticket_no}")
    canvas.setSubject(f"{document.carrier.upper()} {document.tracking_no}")
    top = _draw_header(canvas, document, PAGE_HEIGHT - MARGIN)
    top = _draw_party(canvas, "FROM", document.sender, top, name_size=9, size=8, lines=3)
    top = _draw_party(canvas, "TO", document.recipient, top, name_size=11, size=9, lines=3)
    top = _draw_tracking_barcode(canvas, document.tracking_no, _draw_rule(canvas, top - 1 * mm))
    top = _draw_dropoff(canvas, document.dropoff_code, _draw_rule(canvas, top))
    _draw_items(canvas, document.items, top, bottom=MARGIN)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _check_tracking_no(tracking_no: str) -> None:
    """Code 128 carries printable ASCII only; a courier's tracking number is always that."""
    if not tracking_no or not (tracking_no.isascii() and tracking_no.isprintable()):
        raise ValueError(f"tracking number {tracking_no!r} cannot be printed as Code 128")


# The blocks, top to bottom: each draws below `top` and returns where the next one may start.


def _draw_header(canvas: Canvas, document: LabelDocument, top: float) -> float:
    """The carrier's name and a "RETURN" tag, then the ticket number and the day it was issued."""
    baseline = top - 16
    tag_width = pdfmetrics.stringWidth("RETURN", LATIN_BOLD, 14) + 4 * mm
    canvas.roundRect(
        PAGE_WIDTH - MARGIN - tag_width, baseline - 2 * mm, tag_width, 8 * mm, 1 * mm, fill=1
    )
    canvas.setFillGray(1)
    canvas.setFont(LATIN_BOLD, 14)
    canvas.drawCentredString(PAGE_WIDTH - MARGIN - tag_width / 2, baseline, "RETURN")
    canvas.setFillGray(0)
    room = CONTENT_WIDTH - tag_width - 3 * mm
    _draw_line(canvas, document.carrier.upper(), MARGIN, baseline, 20, room, bold=True)
    baseline -= 5.5 * mm
    issued = f"Issued {document.issued_at.date().isoformat()}"
    issued_width = text_width(issued, 8)
    _draw_line(canvas, issued, PAGE_WIDTH - MARGIN - issued_width, baseline, 8, issued_width)
    room = CONTENT_WIDTH - issued_width - 3 * mm
    _draw_line(canvas, f"Ticket {document.ticket_no}", MARGIN, baseline, 8, room)
    return _draw_rule(canvas, baseline - 2 * mm)


def _draw_party(
    canvas: Canvas,
    caption: str,
    party: LabelParty,
    top: float,
    *,
    name_size: float,
    size: float,
    lines: int,
) -> float:
    """A FROM or TO block: a small caption, the name in bold, then the address wrapped into at most
    `lines` lines. The block is as tall for a short address, so the codes below never move."""
    baseline = top - 3 * mm
    _draw_line(canvas, caption, MARGIN, baseline, 6.5, CONTENT_WIDTH, bold=True)
    baseline -= name_size * 1.2
    _draw_line(canvas, party.name, MARGIN, baseline, name_size, CONTENT_WIDTH, bold=True)
    leading = size * 1.25
    for number, line in enumerate(wrap_text(party.address, size, CONTENT_WIDTH, lines), 1):
        _draw_line(canvas, line, MARGIN, baseline - number * leading, size, CONTENT_WIDTH)
    return baseline - lines * leading - size * 0.5


def _draw_tracking_barcode(canvas: Canvas, tracking_no: str, top: float) -> float:
    """The tracking number as Code 128, centred, with the number printed under the bars."""
    bar_width = _bar_width(tracking_no, CONTENT_WIDTH)
    quiet = QUIET_BARS * bar_width
    barcode = Code128(
        tracking_no,
        barWidth=bar_width,
        barHeight=BARCODE_HEIGHT,
        quiet=1,
        lquiet=quiet,
        rquiet=quiet,
        humanReadable=0,
    )
    bars_bottom = top - 2.5 * mm - BARCODE_HEIGHT
    barcode.drawOn(canvas, (PAGE_WIDTH - barcode.width) / 2, bars_bottom)
    baseline = bars_bottom - 4.5 * mm
    width = text_width(tracking_no, 11, bold=True)
    _draw_line(canvas, tracking_no, (PAGE_WIDTH - width) / 2, baseline, 11, width, bold=True)
    return baseline - 2.5 * mm


def _bar_width(tracking_no: str, width: float) -> float:
    """The widest narrow bar (up to the cap) at which the code and its quiet zones fit `width`."""
    bars = Code128(tracking_no, barWidth=1, quiet=0).width + 2 * QUIET_BARS
    return float(min(MAX_BAR_WIDTH, width / bars))


def _draw_dropoff(canvas: Canvas, dropoff_code: str, top: float) -> float:
    """The drop-off code's QR code, with the code itself written beside it."""
    widget = QrCodeWidget(
        dropoff_code, barWidth=QR_SIZE, barHeight=QR_SIZE, barBorder=0, barLevel="M"
    )
    drawing = Drawing(QR_SIZE, QR_SIZE)
    drawing.add(widget)
    qr_bottom = top - QR_QUIET - QR_SIZE
    renderPDF.draw(drawing, canvas, MARGIN, qr_bottom)
    left = MARGIN + QR_SIZE + QR_QUIET
    room = PAGE_WIDTH - MARGIN - left
    baseline = qr_bottom + QR_SIZE / 2 - 1 * mm
    _draw_line(canvas, "Drop-off code:", left, baseline + 5.5 * mm, 8, room)
    _draw_line(canvas, dropoff_code, left, baseline, 13, room, bold=True)
    _draw_line(canvas, "Scanned at the drop-off point.", left, baseline - 5 * mm, 6.5, room)
    return qr_bottom - QR_QUIET


def _draw_items(canvas: Canvas, items: tuple[LabelItem, ...], top: float, bottom: float) -> None:
    """What the parcel holds, one line per item, as many as fit above `bottom`, then "+N more"."""
    if not items:
        return
    size = 8.5
    leading = size * 1.2
    baseline = top - 2 * mm
    pieces = sum(item.quantity for item in items)
    _draw_line(canvas, f"ITEMS ({pieces} pcs)", MARGIN, baseline, 6.5, CONTENT_WIDTH, bold=True)
    room = int((baseline - bottom) // leading)
    for line in item_lines(items, room):
        baseline -= leading
        _draw_line(canvas, line, MARGIN, baseline, size, CONTENT_WIDTH)


def item_lines(items: tuple[LabelItem, ...], room: int) -> list[str]:
    """At most `room` lines: the SKU, times the quantity, and the title of each item, the last line
    "+N more" when not all of them fit."""
    shown = items if len(items) <= room else items[: max(room - 1, 0)]
    lines = [f"{item.sku} {TIMES} {item.quantity}  {item.title}" for item in shown]
    if len(shown) < len(items) and room > 0:
        lines.append(f"+{len(items) - len(shown)} more")
    return lines


def _draw_rule(canvas: Canvas, y: float) -> float:
    """A thin line across the label between two blocks."""
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
    return y


# Text that never leaves the page: one line, cut with an ellipsis where it would be too wide.


def _draw_line(
    canvas: Canvas,
    text: str,
    x: float,
    y: float,
    size: float,
    width: float,
    *,
    bold: bool = False,
) -> None:
    """`text` from (x, y) on one line no wider than `width`, Latin in Helvetica, the rest in
    STSong-Light."""
    line = canvas.beginText(x, y)
    for font, run in _runs(fit_text(text, size, width, bold=bold), bold):
        line.setFont(font, size)
        # Render mode 2 (fill, then stroke) thickens a CID glyph into a bold one.
        line.setTextRenderMode(2 if bold and font == CJK_FONT else 0)
        line.textOut(run)
    canvas.saveState()
    canvas.setLineWidth(CJK_BOLD_STROKE)
    canvas.drawText(line)
    canvas.restoreState()


def _runs(text: str, bold: bool) -> Iterator[tuple[str, str]]:
    """`text` cut into (font, characters) runs of one font each."""
    for font, chars in itertools.groupby(text, key=lambda char: _font_of(char, bold)):
        yield font, "".join(chars)


def _font_of(char: str, bold: bool) -> str:
    if _is_cjk(char):
        return CJK_FONT
    return LATIN_BOLD if bold else LATIN_FONT


def _is_cjk(char: str) -> bool:
    """Whether `char` is beyond Helvetica's Latin encoding (WinAnsi, Windows-1252): a Chinese
    character or full-width punctuation, set in STSong-Light."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return True
    return False


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """How wide `text` is, in points, set as the label sets it."""
    return float(sum(pdfmetrics.stringWidth(run, font, size) for font, run in _runs(text, bold)))


def fit_text(text: str, size: float, width: float, *, bold: bool = False) -> str:
    """`text` on one line no wider than `width`: as it is, or cut with an ellipsis."""
    text = " ".join(text.split())
    if text_width(text, size, bold=bold) <= width:
        return text
    room = width - text_width(ELLIPSIS, size, bold=bold)
    return text[: _fitting_prefix(text, size, room, bold)].rstrip() + ELLIPSIS


def wrap_text(text: str, size: float, width: float, max_lines: int) -> list[str]:
    """`text` broken into lines no wider than `width`: at its own line breaks, then at a space or,
    in Chinese, between any two characters; past `max_lines` the last line ends in an ellipsis."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        lines.extend(_break_paragraph(" ".join(paragraph.split()), size, width))
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    kept[-1] = fit_text(kept[-1] + ELLIPSIS, size, width)
    return kept


def _break_paragraph(paragraph: str, size: float, width: float) -> list[str]:
    """One paragraph filled line by line, each line broken at the last place that fits."""
    lines: list[str] = []
    rest = paragraph
    while rest:
        cut = max(_fitting_prefix(rest, size, width, False), 1)
        if cut < len(rest):
            cut = _last_break(rest, cut)
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines


def _last_break(text: str, cut: int) -> int:
    """The last place at or before `cut` where a line may break: at a space, or next to a Chinese
    character; `cut` itself inside a Latin word too long for a line."""
    for index in range(cut, 0, -1):
        if text[index].isspace() or _is_cjk(text[index - 1]) or _is_cjk(text[index]):
            return index
    return cut


def _fitting_prefix(text: str, size: float, width: float, bold: bool) -> int:
    """How many of `text`'s first characters fit in `width`."""
    used = 0.0
    for count, char in enumerate(text):
        used += pdfmetrics.stringWidth(char, _font_of(char, bold), size)
        if used > width:
            return count
    return len(text)
