"""Code systems, extension URLs and tags the FHIR mapping uses; ``MappingError``."""

from __future__ import annotations

from typing import Any

#: A FHIR resource as a JSON-able dict.
Resource = dict[str, Any]


# -- systems and URLs ------------------------------------------------------------------------
DERIVATION_URL = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
DATA_ABSENT_URL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#: notestruct's own extensions (assertion flags, run versions); URNs, not resolvable URLs.
ASSERTION_URL = "urn:notestruct:fhir:StructureDefinition:mention-assertion"
VERSIONS_URL = "urn:notestruct:fhir:StructureDefinition:run-versions"
TAG_EXTRACTOR = "urn:notestruct:extractor"
TAG_MENTION = "urn:notestruct:mention"
TAG_RUN = "urn:notestruct:run"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
TIMING_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


class MappingError(Exception):
    """A mention could not be expressed as a valid FHIR resource."""
