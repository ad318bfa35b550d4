"""The art. 15 report as a printable PDF (A4, for a letter), the same text as the page in the same order.

Built with reportlab's page layout (pure Python, from PyPI) from the report in words
(:class:`schakel.lineage.readable.AccessReport`) and the sentences of :mod:`schakel.lineage.report`. The font is
Bitstream Vera, which reportlab ships and which this module embeds (subset) in every PDF: the letter prints the
same everywhere, and its Latin-1 range holds every Dutch character (ë, é, ï, ó, ü). No font is looked up on the
machine. Every value is escaped for reportlab's paragraph markup. Pure apart from reading the package's font files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus.doctemplate import BaseDocTemplate

from schakel.lineage.answers import SubjectReport
from schakel.lineage.readable import AccessReport, PartnerAccount, Sharing, access_report
from schakel.lineage.report import (
    CONSENT_TITLE,
    INTRO,
    NOTHING,
    QUESTIONS,
    REQUESTS_TITLE,
    TITLE,
    WHAT_NOT,
    already_explained,
    basis_mentions,
    capital,
    consent_sentence,
    delivery_sentence,
    never_sentence,
    partner_summary,
    reference_line,
    refusal_item,
    request_sentence,
    sharing_heading,
    words,
)

__all__ = ["render_access_report_pdf", "render_subject_report_pdf"]

_FONT, _BOLD = "SchakelSans", "SchakelSans-Bold"
_BLUE = HexColor("#1f4e79")


@cache
def _fonts() -> None:
    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(_FONT, str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(_BOLD, str(folder / "VeraBd.ttf")))
    pdfmetrics.registerFontFamily(_FONT, normal=_FONT, bold=_BOLD, italic=_FONT, boldItalic=_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=_FONT, fontSize=10, leading=14, spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=_BOLD, fontSize=17, leading=22, spaceAfter=10),
        "h2": ParagraphStyle(
            "h2", parent=body, fontName=_BOLD, fontSize=13, leading=17, spaceBefore=14, spaceAfter=6, textColor=_BLUE
        ),
        "h3": ParagraphStyle("h3", parent=body, fontName=_BOLD, fontSize=10.5, spaceBefore=6, spaceAfter=2),
        "body": body,
        "item": ParagraphStyle("item", parent=body, leftIndent=12, bulletIndent=2, spaceAfter=2),
        "muted": ParagraphStyle("muted", parent=body, fontSize=9, leading=12, textColor=HexColor("#555555")),
    }


def _p(text: str, style: ParagraphStyle, *, bold: str = "") -> Paragraph:
    head = f"<b>{escape(bold)}</b> " if bold else ""
    return Paragraph(head + escape(text), style)


def _item(text: str, style: ParagraphStyle, *, bold: str = "") -> Paragraph:
    head = f"<b>{escape(bold)}</b> " if bold else ""
    return Paragraph(head + escape(text), style, bulletText="•")


def _sharing(s: Sharing, st: dict[str, ParagraphStyle], explained: set[str]) -> list[Flowable]:
    data = words(s.data) if s.data else "alleen dat het bericht over u ging"
    new, again = basis_mentions(s, explained)
    # The heading stays with what was shared (no heading alone at a page's foot); the rest may flow on.
    parts: list[Flowable] = [
        KeepTogether(
            [
                _p(sharing_heading(s), st["h3"]),
                _p(f"{data}.", st["body"], bold="Gedeeld:"),
                _p(s.purpose.explanation_nl, st["body"], bold="Waarom:"),
            ]
        ),
        _p("", st["body"], bold="Wettelijke grondslag:"),
        *(_item(text, st["item"], bold=f"{name}.") for name, text in new),
    ]
    if again:
        parts.append(_item(already_explained(again, alone=not new), st["item"]))
    if s.covenant is not None:
        parts.append(_p(f"{s.covenant.nl}.", st["body"], bold="Afspraak:"))
    if s.withheld:
        parts.append(_p(f"Niet meegestuurd: {words(s.withheld)}.", st["body"]))
    parts.extend(_p(n.nl, st["body"]) for n in s.notes)
    parts.append(_p(delivery_sentence(s), st["muted"]))
    return parts


def _section(account: PartnerAccount, st: dict[str, ParagraphStyle], explained: set[str]) -> list[Flowable]:
    flow: list[Flowable] = [
        KeepTogether([_p(capital(account.organisation.nl), st["h2"]), _p(partner_summary(account), st["body"])])
    ]
    if len(account.shared) > 1:
        flow.append(_p(f"{words(account.shared_data)}.", st["body"], bold="Alles bij elkaar:"))
    for sharing in account.shared:
        flow.extend(_sharing(sharing, st, explained))
    if account.not_shared:
        flow.append(_p("Wat is niet gedeeld", st["h3"]))
        if account.never_shared_data:
            flow.append(_p(never_sentence(account), st["body"]))
        flow.extend(_item(refusal_item(r), st["item"]) for r in account.not_shared)
    return flow


def _requests(report: AccessReport, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    if not report.requests:
        return []
    return [_p(REQUESTS_TITLE, st["h2"]), *(_item(request_sentence(r), st["item"]) for r in report.requests)]


def render_access_report_pdf(report: AccessReport) -> bytes:
    """The report in words as a PDF document (A4)."""
    _fonts()
    st = _styles()
    flow: list[Flowable] = [_p(TITLE, st["title"]), *(_p(paragraph, st["body"]) for paragraph in INTRO)]
    if report.partners:
        flow.append(_p("In het kort", st["h2"]))
        flow.extend(_item(partner_summary(p), st["item"]) for p in report.partners)
        if report.consent:
            flow.append(_p(CONSENT_TITLE, st["h2"]))
            flow.extend(_item(consent_sentence(c), st["item"]) for c in report.consent)
        flow.extend(_requests(report, st))
        explained: set[str] = set()
        for account in report.partners:
            flow.extend(_section(account, st, explained))
    else:
        flow.append(_p(NOTHING, st["body"]))
        flow.extend(_requests(report, st))
    closing = [
        _p("Goed om te weten", st["h2"]),
        _p(WHAT_NOT, st["body"]),
        _p(QUESTIONS, st["body"]),
        Spacer(1, 4 * mm),
        _p(reference_line(report), st["muted"]),
    ]
    flow.append(KeepTogether(closing))  # the kenmerk never stands alone on a last page
    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=TITLE,
        author="Zorg- en Veiligheidshuis",
        lang="nl",
    )
    document.build(flow, onFirstPage=_footer(report), onLaterPages=_footer(report))
    return out.getvalue()


def _footer(report: AccessReport) -> Callable[[Canvas, BaseDocTemplate], None]:
    def draw(canvas: Canvas, document: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(_FONT, 8)
        canvas.setFillColor(HexColor("#555555"))
        canvas.drawString(22 * mm, 12 * mm, f"Kenmerk {report.reference}")
        canvas.drawRightString(A4[0] - 22 * mm, 12 * mm, f"Pagina {document.page}")
        canvas.restoreState()

    return draw


def render_subject_report_pdf(report: SubjectReport) -> bytes:
    """The art. 15 report (from lineage's answer) as a PDF, in words."""
    return render_access_report_pdf(access_report(report))
