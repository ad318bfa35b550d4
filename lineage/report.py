"""The art. 15 report as a page the person who asked can read (Dutch, u-form, AVG art. 12(1)).

A self-contained HTML document (no scripts, no external styles; one ``main`` landmark, clean under axe-core's rules
when last looked at) that a contact point can send or print, laid out
from the report in words (:class:`schakel.lineage.readable.AccessReport`): per partner first what it received - when,
which data, why, on which legal basis, under which agreement -, then briefly what it did not. Every value is escaped.
The PDF (:mod:`schakel.lineage.report_pdf`) says the same in the same order, with the sentences of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from schakel.lineage.answers import SubjectReport
from schakel.lineage.readable import (
    AccessReport,
    ConsentStep,
    Label,
    PartnerAccount,
    Refusal,
    RequestUpdate,
    Sharing,
    access_report,
)
from schakel.schemas import EventType

__all__ = ["render_access_report_html", "render_subject_report_html"]

_LOCAL = ZoneInfo("Europe/Amsterdam")
_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip

TITLE = "Welke gegevens over u zijn gedeeld"
INTRO = (
    "U hebt gevraagd welke gegevens over u zijn gedeeld tussen de organisaties die samenwerken in het Zorg- en "
    "Veiligheidshuis. Dat is uw recht (artikel 15 van de Algemene verordening gegevensbescherming, AVG). Het Zorg- en "
    "Veiligheidshuis beantwoordt uw vraag namens alle organisaties samen.",
    "Hieronder leest u per organisatie welke gegevens zij over u heeft gekregen, wanneer, waarom en op grond van "
    "welke wet en welke afspraken. Daarna leest u kort welke gegevens zij níet heeft gekregen.",
)
NOTHING = "Er zijn via het Zorg- en Veiligheidshuis geen gegevens over u met andere organisaties gedeeld."
WHAT_NOT = (
    "Dit is alleen een overzicht van wát er is gedeeld. De inhoud van de berichten staat er niet in: die bewaart het "
    "Zorg- en Veiligheidshuis niet. Wilt u weten wat een organisatie precies over u heeft, vraag het dan aan het "
    "contactpunt; het stuurt uw vraag door."
)
QUESTIONS = (
    "Hebt u vragen over deze brief, of denkt u dat er iets niet klopt? Neem dan contact op met het contactpunt van "
    "het Zorg- en Veiligheidshuis en noem het kenmerk hieronder. U kunt ook een klacht indienen bij de Autoriteit "
    "Persoonsgegevens."
)


def dutch_time(value: datetime) -> str:
    """``2 november 2026 om 10:30`` (Amsterdam time)."""
    return f"{dutch_date(value)} om {value.astimezone(_LOCAL):%H:%M}"


def dutch_date(value: datetime) -> str:
    """``2 november 2026`` (Amsterdam time), with no-break spaces: a date is never split over two lines."""
    local = value.astimezone(_LOCAL)
    return f"{local.day}\u00a0{_MONTHS[local.month - 1]}\u00a0{local.year}"


def words(labels: Sequence[Label]) -> str:
    """``a, b en c``."""
    texts = [label.nl for label in labels]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " en " + texts[-1] if texts else ""


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


_COUNTS = ("één", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien", "elf", "twaalf")


def times(count: int) -> str:
    return f"{_COUNTS[count - 1] if 0 < count <= len(_COUNTS) else count} keer"


def partner_summary(account: PartnerAccount) -> str:
    """One sentence: how often, over which period, the partner received data (or that it received none) - and, apart
    from that, the notices that its copies' retention ended and they must be deleted: a notice names the person but
    tells the partner nothing new about them, and a reader must not count it as data shared."""
    name = capital(account.organisation.nl)
    notices = [s for s in account.shared if s.message.code == EventType.RETENTION_EXPIRED.value]
    data = [s for s in account.shared if s.message.code != EventType.RETENTION_EXPIRED.value]
    if data:
        said = f"{name} heeft {_period([s.at for s in data])} {times(len(data))} gegevens over u gekregen"
    else:
        said = f"{name} heeft geen gegevens over u gekregen"
    if not notices:
        return said + "."
    told = f"{_period([s.at for s in notices])} {times(len(notices))}" if len(notices) > 1 else _period([notices[0].at])
    joined = ", en" if data else ", alleen"
    return f"{said}{joined} {told} het bericht dat de bewaartermijn voorbij is en dat zij uw gegevens moet wissen."


def _period(moments: Sequence[datetime]) -> str:
    first, last = dutch_date(min(moments)), dutch_date(max(moments))
    return f"op {first}" if first == last else f"tussen {first} en {last}"


def sharing_heading(s: Sharing) -> str:
    return f"{dutch_time(s.at)}: {s.message.nl}, van {s.sender.nl}"


def delivery_sentence(s: Sharing) -> str:
    if s.delivered_at is not None:
        return f"Afgeleverd op {dutch_time(s.delivered_at)}."
    return capital(s.delivery.nl) + "."


CONSENT_TITLE = "Uw toestemming"


def consent_sentence(c: ConsentStep) -> str:
    """``5 november 2026: de politie kreeg bericht ...``, or ``...: een signaal van X is níet gedeeld met Y, omdat
    ...``."""
    if c.step.code == "passed-on":
        return f"{dutch_date(c.at)}: {c.organisation.nl} {c.step.nl} (van {c.sender.nl})."
    return f"{dutch_date(c.at)}: {c.message.nl} van {c.sender.nl} is níet gedeeld met {c.organisation.nl}, {c.step.nl}."


REQUESTS_TITLE = "Uw verzoeken"


def request_sentence(r: RequestUpdate) -> str:
    """``3 december 2026: het Zorg- en Veiligheidshuis ontving dit verzoek (uw verzoek om inzage ...).``"""
    return f"{dutch_date(r.at)}: {r.organisation.nl} {r.step.nl} ({r.request.nl})."


def never_sentence(account: PartnerAccount) -> str:
    return f"{capital(account.organisation.nl)} heeft nooit gekregen: {words(account.never_shared_data)}."


_IDENTIFIER_NAMES = {"bsn": "uw burgerservicenummer", "case": "zaaknummers"}


def reference_line(report: AccessReport) -> str:
    """The kenmerk, when the report was made, and from how many records found under which kind of identifier
    (never the identifiers)."""
    found = [
        f"{count} via {_IDENTIFIER_NAMES.get(kind, 'andere kenmerken')}"
        for kind, count in report.records_by_identifier.items()
    ]
    sources = f" ({', '.join(found)})" if found else ""
    return (
        f"Kenmerk: {report.reference}. Opgesteld op {dutch_time(report.generated_at)} "
        f"uit {report.records} {'registratie' if report.records == 1 else 'registraties'}{sources}."
    )


_STYLE = """
body { font-family: "Liberation Sans", Arial, sans-serif; font-size: 1.05rem; max-width: 44rem; margin: 2rem auto;
  padding: 0 1rem; color: #1a1a1a; line-height: 1.55; }
h1 { font-size: 1.7rem; margin-bottom: 0.5rem; } h2 { font-size: 1.3rem; margin-top: 2.2rem;
  border-bottom: 2px solid #1f4e79; padding-bottom: 0.2rem; color: #1f4e79; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.3rem; }
.sharing { border-left: 4px solid #1f4e79; padding: 0.2rem 0 0.2rem 0.9rem; margin: 0.9rem 0; }
.sharing p { margin: 0.25rem 0; } .label { font-weight: 700; }
ul { margin: 0.3rem 0; padding-left: 1.3rem; } li { margin: 0.15rem 0; }
.basis { color: #333; } .muted { color: #555; font-size: 0.95rem; }
.refused { background: #f5f5f5; padding: 0.5rem 0.9rem; margin-top: 0.8rem; }
.refused ul { list-style: disc; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } .sharing { break-inside: avoid; } }
"""


def basis_mentions(s: Sharing, explained: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The legal bases of a sharing: those explained here for the first time on the page (name, explanation), and
    the names of those already explained above. ``explained`` is updated: each basis is explained once, where the
    person first meets it."""
    new = [(capital(b.nl), b.explanation_nl) for b in s.legal_bases if b.code not in explained]
    again = [b.nl for b in s.legal_bases if b.code in explained]
    explained.update(b.code for b in s.legal_bases)
    return new, again


def already_explained(names: list[str], *, alone: bool) -> str:
    """The bases of a sharing that were explained above: alone, or after those explained here."""
    listed = words([Label(code="", nl=n, en="") for n in names])
    return f"{capital(listed)} (hierboven uitgelegd)." if alone else f"Ook {listed} (hierboven uitgelegd)."


def refusal_item(r: Refusal) -> str:
    return f"{dutch_date(r.at)}: {r.message.nl}, van {r.sender.nl}. {' '.join(x.nl for x in r.reasons)}"


def _sharing(s: Sharing, explained: set[str]) -> str:
    new, again = basis_mentions(s, explained)
    bases = "".join(
        f'<li><span class="label">{escape(name)}.</span> <span class="basis">{escape(text)}</span></li>'
        for name, text in new
    )
    if again:
        bases += f"<li>{escape(already_explained(again, alone=not new))}</li>"
    agreement = (
        f'<p><span class="label">Afspraak:</span> {escape(s.covenant.nl)}.</p>' if s.covenant is not None else ""
    )
    data = words(s.data) if s.data else "alleen dat het bericht over u ging"
    withheld = f"<p>Niet meegestuurd: {escape(words(s.withheld))}.</p>" if s.withheld else ""
    notes = "".join(f"<p>{escape(n.nl)}</p>" for n in s.notes)
    return f"""
<div class="sharing">
<h3>{escape(sharing_heading(s))}</h3>
<p><span class="label">Gedeeld:</span> {escape(data)}.</p>
<p><span class="label">Waarom:</span> {escape(s.purpose.explanation_nl)}</p>
<p><span class="label">Wettelijke grondslag:</span></p>
<ul>{bases}</ul>
{agreement}{withheld}{notes}<p class="muted">{escape(delivery_sentence(s))}</p>
</div>"""


def _refused(account: PartnerAccount) -> str:
    if not account.not_shared:
        return ""
    items = "".join(f"<li>{escape(refusal_item(r))}</li>" for r in account.not_shared)
    never = f"<p>{escape(never_sentence(account))}</p>" if account.never_shared_data else ""
    return f"""
<div class="refused">
<h3>Wat is niet gedeeld</h3>
{never}<ul>{items}</ul>
</div>"""


def _section(account: PartnerAccount, explained: set[str]) -> str:
    shared = "".join(_sharing(s, explained) for s in account.shared)
    received = (
        f'<p><span class="label">Alles bij elkaar:</span> {escape(words(account.shared_data))}.</p>'
        if len(account.shared) > 1
        else ""
    )
    return f"""
<h2>{escape(capital(account.organisation.nl))}</h2>
<p>{escape(partner_summary(account))}</p>
{received}{shared}{_refused(account)}"""


def render_access_report_html(report: AccessReport) -> str:
    """The report in words as one HTML document."""
    if report.partners:
        explained: set[str] = set()
        body = "\n".join(_section(p, explained) for p in report.partners)
        overview = "".join(f"<li>{escape(partner_summary(p))}</li>" for p in report.partners)
        summary = f"<h2>In het kort</h2>\n<ul>{overview}</ul>"
        if report.consent:
            steps = "".join(f"<li>{escape(consent_sentence(c))}</li>" for c in report.consent)
            summary += f"\n<h2>{escape(CONSENT_TITLE)}</h2>\n<ul>{steps}</ul>"
    else:
        body, summary = f"<p>{escape(NOTHING)}</p>", ""
    if report.requests:
        steps = "".join(f"<li>{escape(request_sentence(r))}</li>" for r in report.requests)
        summary += f"\n<h2>{escape(REQUESTS_TITLE)}</h2>\n<ul>{steps}</ul>"
    intro = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in INTRO)
    return f"""<!DOCTYPE html>
<html lang="nl">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(TITLE)}</title>
<style>{_STYLE}</style></head>
<body>
<main>
<h1>{escape(TITLE)}</h1>
{intro}
{summary}
{body}
<h2>Goed om te weten</h2>
<p>{escape(WHAT_NOT)}</p>
<p>{escape(QUESTIONS)}</p>
</main>
<footer><p class="muted">{escape(reference_line(report))}</p></footer>
</body>
</html>
"""


def render_subject_report_html(report: SubjectReport) -> str:
    """The art. 15 report (from lineage's answer) as one HTML document, in words."""
    return render_access_report_html(access_report(report))
