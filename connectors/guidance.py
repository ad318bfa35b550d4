"""The course of action as a partner's document carries it, looked up by the reference the hub put on the copy.

The hub puts only the reference in the copy (the envelope field ``course_of_action``: id and version, read as
``id@version`` by :func:`schakel.guidance.copy_reference`); the text comes from the course files this
connector loaded (``SCHAKEL_GUIDANCE_DIR``, default the shipped drafts). A reference this connector does not hold -
another version, the hub and the connector deployed with different course files - still travels, with a note and
without a text: an old or a newer text is not passed off as the one the hub chose.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from schakel.guidance import Guidance, ReviewStatus, load_guidance
from schakel.settings import Settings

__all__ = ["course_document"]

_STATUS_WORDS = {ReviewStatus.DRAFT: "concept, ter beoordeling", ReviewStatus.REVIEWED: "vastgesteld"}


@cache
def _guidance() -> Guidance:
    return load_guidance(Settings().guidance_dir)


def course_document(reference: str, guidance: Guidance | None = None) -> dict[str, Any]:
    """The ``handelingskader`` block of a partner document for the course ``reference`` (``id@version``)."""
    course = (guidance or _guidance()).find(reference)
    if course is None:
        return {
            "referentie": reference,
            "toelichting": "Deze versie van het handelingskader is niet beschikbaar bij deze koppeling.",
        }
    return {
        "referentie": course.reference,
        "titel": course.title,
        "status": _STATUS_WORDS[course.status],
        "stappen": list(course.steps),
        "betrekken": [str(org) for org in course.involve],
        "bron": course.source,
    }
