"""Code system URIs used by the terminology dictionary and the coders."""

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UMLS = "http://terminology.hl7.org/CodeSystem/umls"
HPO = "http://human-phenotype-ontology.org"
MESH = "http://terminology.hl7.org/CodeSystem/MSH"
DRUGBANK = "https://go.drugbank.com/drugs"
DOID = "http://purl.obolibrary.org/obo/doid.owl"
ATC = "http://www.whocc.no/atc"
OMIM = "https://omim.org"
ORPHANET = "http://www.orpha.net"

#: UMLS source abbreviations (MRCONSO.SAB) -> code system URI, for codes kept from UMLS rows.
UMLS_SAB_SYSTEMS: dict[str, str] = {
    "SNOMEDCT_US": SNOMED,
    "RXNORM": RXNORM,
    "ICD10CM": ICD10CM,
    "LNC": LOINC,
    "HPO": HPO,
    "MSH": MESH,
}
