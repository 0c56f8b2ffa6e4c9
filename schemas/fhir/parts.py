"""Parts every mapper shares: document id, patient/encounter references, provenance,
codings and concepts, quantities, the clinical status a mention's clause states."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.ai import label_ai
from schemas.fhir.codes import (
    ASSERTION_URL,
    DATA_ABSENT_URL,
    DERIVATION_URL,
    TAG_EXTRACTOR,
    TAG_MENTION,
    UCUM,
    Resource,
)
from schemas.fhir.policy import FROM_TEXT, FROM_TEXT_OR_ACTIVE
from schemas.fhir.values import (
    _BAD_SPACE,
    _CODE_OK,
    _ID_OK,
    _SPACE,
    _code,
    _coding,
    _decimal,
    _instant,
    _string,
    _uri,
)
from schemas.ids import resource_id
from schemas.model import Mention, Note


# -- shared parts ----------------------------------------------------------------------------
def document_id(note: Note) -> str:
    """Deterministic DocumentReference id of a note."""
    return resource_id("DocumentReference", note.note_id)


def _reference(kind: str, ident: str | None, system: str) -> dict[str, Any] | None:
    """A literal reference when ``ident`` is a legal FHIR id, else a logical (identifier) one."""
    if not ident:
        return None
    if _ID_OK.fullmatch(ident):
        return {"reference": f"{kind}/{ident}"}
    value = _string(ident)
    return {"type": kind, "identifier": {"system": system, "value": value}} if value else None


def _patient(note: Note) -> dict[str, Any]:
    ref = _reference(
        "Patient", note.patient_ref, f"{_uri(note.source) or 'urn:notestruct'}:patient"
    )
    return ref or {"display": "unknown patient"}


def _encounter(note: Note) -> dict[str, Any] | None:
    return _reference(
        "Encounter", note.encounter_ref, f"{_uri(note.source) or 'urn:notestruct'}:encounter"
    )


@dataclass(frozen=True, slots=True)
class NoteParts:
    """What every resource of a note repeats, computed once per note (see ``note_parts``).

    References are kept as tuples and turned into fresh dicts per resource, so no two
    resources share a mutable sub-object.
    """

    document: str
    patient: tuple[tuple[str, Any], ...]
    encounter: tuple[tuple[str, Any], ...] | None
    instant: str | None

    def subject(self) -> dict[str, Any]:
        """A fresh Patient reference dict."""
        return _thaw(self.patient)

    def context(self) -> dict[str, Any] | None:
        """A fresh Encounter reference dict, or None."""
        return _thaw(self.encounter) if self.encounter else None


def _freeze(value: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, _freeze(v) if isinstance(v, dict) else v) for k, v in value.items())


def _thaw(value: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: _thaw(v) if isinstance(v, tuple) else v for k, v in value}


def note_parts(note: Note) -> NoteParts:
    """The per-note parts of every resource: DocumentReference, Patient, Encounter, date."""
    encounter = _encounter(note)
    return NoteParts(
        document=f"DocumentReference/{document_id(note)}",
        patient=_freeze(_patient(note)),
        encounter=_freeze(encounter) if encounter else None,
        instant=_instant(note.authored_at) if note.authored_at else None,
    )


def _provenance(mention: Mention, parts: NoteParts, resource_type: str, rid: str) -> Resource:
    """id, meta tags (extractor@version, mention id) and the derivation-reference extension."""
    extractor = _code(f"{mention.provenance.extractor}@{mention.provenance.extractor_version}")
    mention_code = _code(mention.mention_id)
    tags = [{"system": TAG_MENTION, "code": mention_code}] if mention_code else []
    if extractor:
        tags.insert(0, {"system": TAG_EXTRACTOR, "code": extractor})
    extensions: list[dict[str, Any]] = [
        {
            "url": DERIVATION_URL,
            "extension": [
                {
                    "url": "reference",
                    "valueReference": {"reference": parts.document},
                },
                {"url": "offset", "valueInteger": mention.start_char},
                {"url": "length", "valueInteger": mention.end_char - mention.start_char},
            ],
        }
    ]
    a = mention.assertion
    if (
        a.is_negated
        or a.is_uncertain
        or a.is_historical
        or a.is_hypothetical
        or a.is_family
        or a.is_conditional
    ):
        flags = [
            {"url": name, "valueBoolean": True}
            for name, on in (
                ("negated", a.is_negated),
                ("uncertain", a.is_uncertain),
                ("historical", a.is_historical),
                ("hypothetical", a.is_hypothetical),
                ("family", a.is_family),
                ("conditional", a.is_conditional),
            )
            if on
        ]
        extensions.append({"url": ASSERTION_URL, "extension": flags})
    if not tags:  # FHIR forbids empty arrays
        return label_ai(
            {"resourceType": resource_type, "id": rid, "extension": extensions}, mention
        )
    return label_ai(
        {"resourceType": resource_type, "id": rid, "meta": {"tag": tags}, "extension": extensions},
        mention,
    )


def _source_ref(data: Resource) -> str:
    """The DocumentReference reference ``_provenance`` put in the derivation extension."""
    return str(data["extension"][0]["extension"][0]["valueReference"]["reference"])


def _codings(mention: Mention, extra: Iterable[dict[str, str] | None] = ()) -> list[dict[str, str]]:
    """The mention's codings (deduplicated), preceded by ``extra`` ones it does not have."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str | None, str]] = set()
    for coding in mention.codings:
        system, code, display = coding.system, coding.code, coding.display
        c: dict[str, str] | None
        if system and _CODE_OK.fullmatch(code) and not _SPACE.search(system):
            # the common case inline (this runs for every coding): clean system and code
            c = {"system": system, "code": code}
            if display and not _BAD_SPACE.search(display) and not display.isspace():
                c["display"] = display
            elif display:
                d = _string(display)
                if d:
                    c["display"] = d
        else:
            c = _coding(system, code, display)
        if c is not None and (c.get("system"), c["code"]) not in seen:
            seen.add((c.get("system"), c["code"]))
            out.append(c)
    front = []
    for c in extra:
        if c is not None and (c.get("system"), c["code"]) not in seen:
            seen.add((c.get("system"), c["code"]))
            front.append(c)
    return front + out


def _concept(
    mention: Mention,
    include_text: bool,
    *,
    extra: Iterable[dict[str, str] | None] = (),
    name: object = None,
) -> dict[str, Any]:
    """CodeableConcept: codings, and text from a dictionary name or (if allowed) the span.

    Without codings, a dictionary name or permission to copy note text, the concept carries
    the data-absent-reason ``masked``: the value exists in the note but is withheld.
    """
    codings = _codings(mention, extra)
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    text = _string(mention.text) if include_text else None
    text = text or _string(name) or (codings[0].get("display") if codings else None)
    if text:
        out["text"] = text
    if not out:
        out["extension"] = [{"url": DATA_ABSENT_URL, "valueCode": "masked"}]
    return out


def _status(value: str, element: str, mention: Mention) -> str | None:
    """Resolve a policy element value: a code, or FROM_TEXT / FROM_TEXT_OR_ACTIVE, which take
    what the mention's clause states (``stated_status``, set by ``extractors.statements``)."""
    if value not in (FROM_TEXT, FROM_TEXT_OR_ACTIVE):
        return value
    if element == "clinicalStatus" and mention.attributes.get("resolved") is True:
        # assertion found a resolution cue ("has cleared", "resolution of"): the text says so
        return "resolved"
    stated = _code(mention.attributes.get("stated_status"))
    if stated:
        return stated
    return "active" if value == FROM_TEXT_OR_ACTIVE else None


def _concept_code(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _quantity(value: object, ucum: object = None, unit: object = None) -> dict[str, Any] | None:
    v = _decimal(value)
    if v is None:
        return None
    q: dict[str, Any] = {"value": v}
    code = _code(ucum)
    label = _string(unit) or code
    if label:
        q["unit"] = label
    if code:
        q["system"] = UCUM
        q["code"] = code
    return q


def _attr(mention: Mention, key: str) -> Any:
    return mention.attributes.get(key)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
