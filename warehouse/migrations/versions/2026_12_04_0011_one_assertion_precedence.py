"""mention_current.assertion in the one precedence of schemas.model.assertion_state

The analyst views put family before hypothetical and named a 'conditional' state that the FHIR
policy does not have, so one mention could be 'family' in SQL and 'hypothetical' in FHIR. From
this revision the view reads the same order as FHIR and OMOP: hypothetical, family_negated,
family, no_known_allergy, negated (a resolved negation is historical), uncertain, historical,
affirmed. ``is_conditional`` stays a column of its own. The SQL is frozen here; a test checks it
against ``schemas.model.assertion_state`` on every combination of flags.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _attribute_true(key: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM mention_attribute ma WHERE ma.mention_id = m.mention_id "
        f"AND ma.key = '{key}' AND ma.value_text = 'true')"
    )


NEW_STATE = f"""CASE WHEN m.is_hypothetical THEN 'hypothetical'
            WHEN m.is_family AND m.is_negated THEN 'family_negated'
            WHEN m.is_family THEN 'family'
            WHEN m.label = 'ALLERGY' AND {_attribute_true('no_known_allergy')}
                THEN 'no_known_allergy'
            WHEN m.is_negated AND {_attribute_true('resolved')} THEN 'historical'
            WHEN m.is_negated THEN 'negated'
            WHEN m.is_uncertain THEN 'uncertain'
            WHEN m.is_historical THEN 'historical'
            ELSE 'affirmed' END"""

OLD_STATE = """CASE WHEN m.is_family THEN 'family'
            WHEN m.is_hypothetical THEN 'hypothetical'
            WHEN m.is_negated THEN 'negated'
            WHEN m.is_uncertain THEN 'uncertain'
            WHEN m.is_historical THEN 'historical'
            WHEN m.is_conditional THEN 'conditional'
            ELSE 'affirmed' END"""

_VIEW = """
{verb} VIEW mention_current AS
SELECT m.mention_id, m.note_id, n.patient_ref, n.encounter_ref, n.note_type,
       n.authored_at AS note_date, m.label, m.section, m.start_char, m.end_char,
       {state} AS assertion,
       m.is_negated, m.is_uncertain, m.is_historical, m.is_hypothetical, m.is_family,
       m.is_conditional, m.experiencer,
       c.system AS concept_system, c.code AS concept_code, c.display AS concept_display,
       COALESCE(c.system || '|' || c.code, 'rule:' || m.rule_id, 'label:' || m.label)
           AS concept_key,
       m.extractor, m.extractor_version, m.rule_id
FROM mention m
JOIN note n ON n.note_id = m.note_id AND n.status = 'processed'
LEFT JOIN (
    SELECT mention_id, system, code, display,
           ROW_NUMBER() OVER (
               PARTITION BY mention_id
               ORDER BY CASE system
                            WHEN 'http://snomed.info/sct' THEN 1
                            WHEN 'http://www.nlm.nih.gov/research/umls/rxnorm' THEN 2
                            WHEN 'http://loinc.org' THEN 3
                            WHEN 'http://hl7.org/fhir/sid/icd-10-cm' THEN 4
                            ELSE 9 END,
                        CASE WHEN score IS NULL THEN 1 ELSE 0 END, score DESC, system, code
           ) AS rn
    FROM mention_coding
) c ON c.mention_id = m.mention_id AND c.rn = 1
"""


def _replace(state: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # same columns, so the views built on mention_current keep working
        op.execute(_VIEW.format(verb="CREATE OR REPLACE", state=state))
    else:
        # SQLite keeps dependent views as text: they read the new definition
        op.execute("DROP VIEW IF EXISTS mention_current")
        op.execute(_VIEW.format(verb="CREATE", state=state))


def upgrade() -> None:
    _replace(NEW_STATE)


def downgrade() -> None:
    _replace(OLD_STATE)
