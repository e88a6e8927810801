"""The PDF layout of invoices and credit notes: engine, fonts, scripts, determinism.

Engine
------
fpdf2, a maintained pure-Python PDF writer: ``pip install`` brings it with
Pillow, fontTools and defusedxml, and needs no system library. Every word is
real text in an embedded TrueType font subset with a Unicode map, so the PDF
can be searched, copied and read by text extraction (and screen readers); the
document's language is set from the customer's locale.

Fonts
-----
The 14 core fonts every PDF reader has cover Latin-1 only (no ``ł``, ``ő``,
``č``, and only through tricks the euro sign), so the PDF embeds its own
fonts. By default (:func:`default_fonts`) these are DejaVu Sans and DejaVu
Sans Bold, taken from the font files that matplotlib ships with its package
data (found on disk; matplotlib itself is never imported). DejaVu covers every
Latin script (Western, Central and Eastern European, Turkish, Vietnamese),
Greek and Cyrillic, the euro sign and the other currency signs Babel prints.
:class:`PdfFonts` names other fonts, and fallback fonts that print, character
by character, what the main fonts lack: for Chinese, Japanese or Korean, a CJK
font such as WenQuanYi Micro Hei (Debian's ``fonts-wqy-microhei`` installs
``/usr/share/fonts/truetype/wqy/wqy-microhei.ttc``; the tests use it when it
is there) or Noto Sans CJK (``fonts-noto-cjk``). Of a font collection
(``.ttc``), the first face is used. No package on the Python package index
ships a maintained CJK font, so none is a dependency.

Characters no font has
----------------------
Rendering never fails and never leaves out a line or a figure for want of a
glyph. A character that none of the fonts has is printed as follows: if its
Unicode compatibility form (NFKC) is covered, that form is printed (the
full-width yen sign ``￥`` that Babel writes for ``ja_JP`` prints as ``¥``);
otherwise it prints as the replacement character ``�`` (``?`` if even that is
missing), in its place, so the rest of the text and every amount stay as
they are. A document in which this happened ends with a footnote saying so,
and a warning is logged (logger ``finplug_billing._pdf``) with the count. So,
with the default fonts, a Japanese or Chinese customer name or line
description prints as a row of ``�`` while its figures, dates and labels
print in full; the HTML rendering always has the full text. Text is not
shaped: right-to-left scripts (Hebrew, Arabic) print their letters in stored
order without joining.

Determinism
-----------
The same document and fonts give the same bytes with the same fpdf2: the
PDF's creation date is the document's own (the invoice's issue day, a draft's
``created_at``, a credit note's ``created_at``), never the clock; the file
identifier is a hash of the content and that date; font subsets are made in
a fixed order.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpdf import FPDF, FontFace
from fpdf.fonts import TTFFont

if TYPE_CHECKING:
    from finplug_billing.render import Document, Table

__all__ = ["PdfFonts", "default_fonts", "write"]

_LOG: Final = logging.getLogger(__name__)

_BODY: Final = "body"
_BOLD: Final = FontFace(emphasis="BOLD")
_TEXT_WIDTH: Final = 180.0  # A4's 210 mm less two margins of 15 mm
_MARK_COLOUR: Final = (176, 0, 32)
_WATERMARK_COLOUR: Final = (246, 214, 219)
_MUTED: Final = (90, 90, 90)


@dataclass(frozen=True, slots=True)
class PdfFonts:
    """The TrueType/OpenType font files a PDF embeds.

    ``fallbacks`` print, character by character, what ``regular`` and ``bold``
    lack (in the order given); of a font collection (``.ttc``), the first face
    is used.
    """

    regular: Path
    """The text font."""
    bold: Path | None = None
    """Headings and totals (``None``: the regular font)."""
    fallbacks: tuple[Path, ...] = ()
    """Fonts for characters the main fonts lack (a CJK font …)."""


@functools.cache
def default_fonts() -> PdfFonts:
    """DejaVu Sans and DejaVu Sans Bold, as shipped in matplotlib's package data.

    Raises :class:`FileNotFoundError` when matplotlib (a dependency of
    finplug-billing) is not installed; pass :class:`PdfFonts` to use others.
    """
    spec = importlib.util.find_spec("matplotlib")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        folder = Path(location) / "mpl-data" / "fonts" / "ttf"
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return PdfFonts(regular=regular, bold=bold)
    raise FileNotFoundError(
        "DejaVu Sans was not found in matplotlib's package data: install finplug-billing's "
        "dependencies (matplotlib) or pass PdfFonts(regular=...) naming a TrueType font"
    )


class _Writer(FPDF):
    """fpdf2 with the document's watermark, footer and font coverage."""

    def __init__(self, doc: Document, fonts: PdfFonts) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        self.add_font(_BODY, "", fonts.regular)
        self.add_font(_BODY, "B", fonts.bold or fonts.regular)
        names = []
        for index, path in enumerate(fonts.fallbacks):
            names.append(f"fallback{index}")
            self.add_font(names[-1], "", path)
        if names:
            self.set_fallback_fonts(names, exact_match=False)
        # Control characters never print, even where a font maps them.
        self.covered: frozenset[int] = frozenset(
            code
            for font in self.fonts.values()
            if isinstance(font, TTFFont)
            for code in font.cmap
            if unicodedata.category(chr(code)) != "Cc"
        )
        self.replacement = "\ufffd" if ord("\ufffd") in self.covered else "?"
        self.unshown = 0
        """Characters printed as the replacement character so far."""

    def shown(self, text: str) -> str:
        """``text`` as the fonts can print it (see the module's rules)."""
        if all(ord(char) in self.covered for char in text):
            return text
        out = []
        for char in text:
            if ord(char) in self.covered or char == "\n":
                out.append(char)
                continue
            if char.isspace():
                out.append(" ")
                continue
            compatible = unicodedata.normalize("NFKC", char)
            if compatible and all(ord(c) in self.covered for c in compatible):
                out.append(compatible)
                continue
            out.append(self.replacement)
            self.unshown += 1
        return "".join(out)

    def header(self) -> None:
        """A draft's or voided invoice's mark across each page, under the content."""
        mark = self.doc.mark
        if not mark:
            return
        with self.local_context(text_color=_WATERMARK_COLOUR):
            self.set_font(_BODY, "B", 96)
            text = self.shown(mark)
            width = self.get_string_width(text)
            with self.rotation(30, x=self.w / 2, y=self.h / 2):
                self.text(self.w / 2 - width / 2, self.h / 2 + 12, text)

    def footer(self) -> None:
        """The document's title and number and the page number."""
        self.set_y(-12)
        with self.local_context(text_color=_MUTED):
            self.set_font(_BODY, "", 7)
            text = f"{self.doc.title} {self.doc.number} · {self.page_no()}/{{nb}}"
            self.cell(0, 4, self.shown(text), align="C")


def write(doc: Document, fonts: PdfFonts) -> bytes:
    """``doc`` laid out on A4 pages, as PDF bytes."""
    pdf = _Writer(doc, fonts)
    pdf.set_creation_date(doc.created)
    pdf.set_title(pdf.shown(f"{doc.title} {doc.number}"))
    pdf.set_author(pdf.shown(doc.issuer.name))
    pdf.set_creator("finplug-billing")
    pdf.set_lang(doc.lang)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    _heading(pdf, doc)
    _parties(pdf, doc)
    _table(pdf, doc.lines)
    _totals(pdf, doc)
    if doc.related is not None:
        pdf.ln(6)
        pdf.set_font(_BODY, "B", 10)
        pdf.cell(0, 6, pdf.shown(doc.related.caption), new_x="LMARGIN", new_y="NEXT")
        _table(pdf, doc.related)
    if pdf.unshown:
        _LOG.warning(
            "%s %s: characters not in the PDF's fonts, printed as %r: %d",
            doc.title,
            doc.number,
            pdf.replacement,
            pdf.unshown,
        )
        pdf.ln(6)
        pdf.set_font(_BODY, "", 7)
        note = doc.labels["unshown"].format(mark=pdf.replacement)
        pdf.multi_cell(0, 4, pdf.shown(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _heading(pdf: _Writer, doc: Document) -> None:
    """The issuer on the left, the title and number on the right, the mark's banner."""
    top = pdf.get_y()
    left = 110.0
    pdf.set_font(_BODY, "B", 12)
    pdf.multi_cell(left, 6, pdf.shown(doc.issuer.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_BODY, "", 9)
    details = list(doc.issuer.address_lines)
    if doc.issuer.tax_id:
        details.append(f"{doc.labels['tax_id']}: {doc.issuer.tax_id}")
    if doc.issuer.email:
        details.append(f"{doc.labels['email']}: {doc.issuer.email}")
    for line in details:
        pdf.multi_cell(left, 4.5, pdf.shown(line), new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + left, top)
    pdf.set_font(_BODY, "B", 20)
    right = _TEXT_WIDTH - left
    pdf.multi_cell(right, 10, pdf.shown(doc.title), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_font(_BODY, "", 11)
    pdf.multi_cell(right, 6, pdf.shown(doc.number), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(bottom, pdf.get_y()) + 6)
    if doc.mark:
        with pdf.local_context(text_color=_MARK_COLOUR, draw_color=_MARK_COLOUR):
            pdf.set_font(_BODY, "B", 11)
            banner = f"{doc.mark} · {doc.mark_note}"
            pdf.multi_cell(0, 8, pdf.shown(banner), border=1, align="C")
        pdf.ln(4)


def _parties(pdf: _Writer, doc: Document) -> None:
    """The customer on the left, the document's facts on the right."""
    top = pdf.get_y()
    left = 90.0
    pdf.set_font(_BODY, "B", 9)
    pdf.cell(left, 5, pdf.shown(doc.labels["bill_to"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_BODY, "B", 11)
    pdf.multi_cell(left, 6, pdf.shown(doc.customer_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_BODY, "", 9)
    for tax_id in doc.customer_tax_ids:
        text = f"{doc.labels['tax_id']}: {tax_id}"
        pdf.multi_cell(left, 4.5, pdf.shown(text), new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_y(top)
    pdf.set_font(_BODY, "", 9)
    with pdf.table(
        width=_TEXT_WIDTH - left,
        align="RIGHT",
        col_widths=(38, 52),
        text_align=("LEFT", "RIGHT"),
        borders_layout="NONE",
        first_row_as_headings=False,
        line_height=5,
    ) as table:
        for label, value in doc.facts:
            row = table.row()
            row.cell(pdf.shown(label))
            row.cell(pdf.shown(value))
    pdf.set_y(max(bottom, pdf.get_y()) + 6)


def _table(pdf: _Writer, table: Table) -> None:
    """``table`` across the text width, its headings repeated on each page."""
    pdf.set_font(_BODY, "", 8)
    with pdf.table(
        width=_TEXT_WIDTH,
        col_widths=table.widths,
        text_align=tuple("RIGHT" if numeric else "LEFT" for numeric in table.numeric),
        borders_layout="HORIZONTAL_LINES",
        headings_style=_BOLD,
        line_height=4.5,
        padding=(1, 1, 1, 1),
    ) as out:
        headings = out.row()
        for heading in table.headings:
            headings.cell(pdf.shown(heading))
        for cells in table.rows:
            row = out.row()
            for cell in cells:
                row.cell(pdf.shown("\n".join(cell)))


def _totals(pdf: _Writer, doc: Document) -> None:
    """The totals, right-aligned under the lines; the total and amount due in bold."""
    pdf.ln(3)
    pdf.set_font(_BODY, "", 9)
    with pdf.table(
        width=95,
        align="RIGHT",
        col_widths=(55, 40),
        text_align=("LEFT", "RIGHT"),
        borders_layout="NONE",
        first_row_as_headings=False,
        line_height=5.5,
    ) as table:
        for total in doc.totals:
            row = table.row()
            style = _BOLD if total.strong else None
            row.cell(pdf.shown(total.label), style=style)
            row.cell(pdf.shown(total.value), style=style)
