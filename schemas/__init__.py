"""Internal records, deterministic ids, FHIR R4 and OMOP mapping for notestruct."""
