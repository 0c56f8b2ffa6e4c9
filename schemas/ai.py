"""AI-transparency labels for FHIR resources derived from a language model's output.

HL7's AI Transparency on FHIR guidance marks such data with the security label ``AIAST``
(artificial intelligence asserted) of ``v3-ObservationValue`` in ``meta.security``; the model
that produced it is named in ``meta.tag`` beside notestruct's extractor tag.
"""

from __future__ import annotations

from typing import Any

from schemas.model import Mention

AI_SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
AI_SECURITY_CODE = "AIAST"
#: ``meta.tag`` system naming the model (``attributes["llm_model"]``) behind a resource.
TAG_MODEL = "urn:notestruct:llm-model"


def ai_model(mention: Mention) -> str | None:
    """The model that asserted this mention or decided its assertion, or None."""
    for key in ("llm_model", "assertion_adjudicated_by"):
        value = mention.attributes.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def label_ai(resource: dict[str, Any], mention: Mention) -> dict[str, Any]:
    """``resource`` with the AI security label and model tag when ``mention`` came from (or
    was decided by) a language model; unchanged otherwise."""
    model = ai_model(mention)
    if model is None:
        return resource
    meta = dict(resource.get("meta") or {})
    meta["security"] = [
        *meta.get("security", []),
        {
            "system": AI_SECURITY_SYSTEM,
            "code": AI_SECURITY_CODE,
            "display": "Artificial Intelligence asserted",
        },
    ]
    meta["tag"] = [*meta.get("tag", []), {"system": TAG_MODEL, "code": model[:200]}]
    return {**resource, "meta": meta}
