"""The art. 15 report as a readable HTML document, for the citizen who asked (in Dutch, the citizen's language).

A self-contained page (no scripts, no external styles) that a contact point can print or send. Every value is
escaped. It names organisations, event types, field names, purposes and legal bases - what the report holds; there
are no personal values in lineage to show.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from schakel.lineage.answers import Disclosure, PartnerSection, SubjectReport

__all__ = ["render_subject_report_html"]

_LOCAL = ZoneInfo("Europe/Amsterdam")
_DELIVERY = {
    "delivered": "afgeleverd",
    "pending": "verstrekt, aflevering niet bevestigd",
    "dead-lettered": "niet afgeleverd (aflevering mislukt)",
    "none": "niet verstrekt",
}
_OUTCOME = {"permit": "verstrekt", "partial": "deels verstrekt", "deny": "geweigerd", None: "-"}
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } .muted { color: #666; } dt { font-weight: 600; } dd { margin: 0 0 0.4rem 0; }
"""


def _time(value: datetime | None) -> str:
    return "-" if value is None else escape(value.astimezone(_LOCAL).strftime("%d-%m-%Y %H:%M"))


def _list(values: tuple[str, ...]) -> str:
    return escape(", ".join(values)) if values else '<span class="muted">geen</span>'


def _reasons(reasons: tuple[str, ...]) -> str:
    return f'<br><span class="muted">{escape(", ".join(reasons))}</span>' if reasons else ""


def _derived(d: Disclosure) -> str:
    """A bundle's sources: how many signals, from which partners (the ZVH's agenda proposal about the person)."""
    if not d.derived_from:
        return ""
    partners = ", ".join(dict.fromkeys(key.split("/", 1)[0] for key in d.derived_from))
    return (
        f'<br><span class="muted">agendavoorstel, samengesteld uit {len(d.derived_from)} signalen van '
        f"{escape(partners)}</span>"
    )


def _row(d: Disclosure) -> str:
    return (
        "<tr>"
        f"<td>{_time(d.decided_at)}</td><td>{escape(d.event_type)}{_derived(d)}</td><td>{escape(d.sender)}</td>"
        f"<td>{escape(_OUTCOME.get(d.outcome, d.outcome or '-'))}{_reasons(d.reasons)}</td>"
        f"<td>{_list(d.fields_sent)}</td>"
        f"<td>{_list(d.fields_withheld)}</td><td>{escape(d.purpose)}</td><td>{_list(d.legal_basis)}</td>"
        f"<td>{escape(d.policy or '-')}{' / ' + escape(d.rule) if d.rule else ''}</td>"
        f"<td>{escape(_DELIVERY.get(d.delivery, d.delivery))}</td>"
        "</tr>"
    )


def _section(p: PartnerSection) -> str:
    rows = "\n".join(_row(d) for d in p.decisions)
    return f"""
<h2>{escape(p.recipient_name)} <span class="muted">({escape(p.recipient)})</span></h2>
<dl>
  <dt>Soorten berichten verstrekt</dt><dd>{_list(p.event_types)}</dd>
  <dt>Gegevens verstrekt</dt><dd>{_list(p.fields_shared)}</dd>
  <dt>Gegevens niet verstrekt (achtergehouden)</dt><dd>{_list(p.fields_withheld)}</dd>
  <dt>Doel</dt><dd>{_list(p.purposes)}</dd>
  <dt>Grondslag</dt><dd>{_list(p.legal_bases)}</dd>
  <dt>Periode</dt><dd>{_time(p.first_shared)} tot en met {_time(p.last_shared)}</dd>
</dl>
<table>
  <thead><tr><th>Tijdstip</th><th>Bericht</th><th>Afzender</th><th>Besluit</th><th>Verstrekt</th>
  <th>Achtergehouden</th><th>Doel</th><th>Grondslag</th><th>Convenant / regel</th><th>Aflevering</th></tr></thead>
  <tbody>
{rows}
  </tbody>
</table>"""


_IDENTIFIER_NAMES = {"bsn": "uw burgerservicenummer", "case": "zaaknummers"}


def _sources(report: SubjectReport) -> str:
    """Which kinds of identifier the records were found under, and how many each (never the identifiers)."""
    parts = [
        f"{count} via {_IDENTIFIER_NAMES.get(kind, escape(kind))}"
        for kind, count in report.records_by_identifier.items()
    ]
    return f" ({', '.join(parts)})" if parts else ""


def render_subject_report_html(report: SubjectReport) -> str:
    """The report as one HTML document."""
    if report.partners:
        body = "\n".join(_section(p) for p in report.partners)
    else:
        body = "<p>Over u zijn via het Zorg- en Veiligheidshuis geen gegevens met partners gedeeld.</p>"
    return f"""<!DOCTYPE html>
<html lang="nl">
<head><meta charset="utf-8"><title>Inzage in de verwerking van uw gegevens (AVG art. 15)</title>
<style>{_STYLE}</style></head>
<body>
<h1>Inzage in de verwerking van uw gegevens</h1>
<p>Op grond van artikel 15 van de Algemene verordening gegevensbescherming (AVG) hebt u gevraagd welke gegevens over
u zijn gedeeld. Het Zorg- en Veiligheidshuis beantwoordt deze vraag als contactpunt namens alle partners van het
samenwerkingsverband (Wet gegevensverwerking door samenwerkingsverbanden). Hieronder staat per partner welke soorten
berichten en welke gegevens over u zijn verstrekt, wanneer, met welk doel en op welke grondslag, en welke gegevens
níet zijn verstrekt.</p>
<p class="muted">Opgesteld op {_time(report.generated_at)} uit {report.records} registraties{_sources(report)}.
Kenmerk: {escape(report.data_subject_id[:16])}</p>
{body}
</body>
</html>
"""
