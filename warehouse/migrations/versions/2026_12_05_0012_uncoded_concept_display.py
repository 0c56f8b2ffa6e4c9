"""mention_current.concept_display names uncoded mentions by their rule

A mention without a code (a curated term that no terminology codes, such as 'free fluid', or
a rule-based finding) had an empty ``concept_display`` in every analyst view, so problem-list
rows had no name. From this revision, when a mention has no primary code, ``concept_display``
is a name derived from its rule id: the part after the first ':' (the namespace), with '-' and
'_' read as spaces ('curated:free-fluid' -> 'free fluid', 'predicate:cardiomegaly' ->
'cardiomegaly', 'med-sig' -> 'med sig'); a mention without a rule id is named by its label in
lower case ('problem'). A coded mention keeps its code's display, even an empty one.

The name is derived only from ``mention.rule_id`` (already a column of ``mention_current``) and
``mention.label``, never from ``mention.text``: the views are what the analyst role reads, and
they expose no note text, whatever ``store_text`` says. Every mention of one rule gets the same
name, so a ``problem_list`` or ``patient_concept_feature`` row (one per ``concept_key``, which
is ``rule:<rule id>`` for uncoded mentions) has one deterministic display.

Only ``mention_current`` changes; the views built on it (``condition_current``,
``problem_list``, ``medication_list``, ``observation_series``, ``negated_finding``,
``family_history``, ``patient_concept_feature``) read the new column unchanged. Column names
and types stay as they were. Finding the ':' is the one dialect-specific piece (SQLite
``INSTR``, PostgreSQL ``STRPOS``); the downgrade restores the SQL of revision 0011.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _attribute_true(key: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM mention_attribute ma WHERE ma.mention_id = m.mention_id "
        f"AND ma.key = '{key}' AND ma.value_text = 'true')"
    )


# the assertion state of revision 0011, unchanged
STATE = f"""CASE WHEN m.is_hypothetical THEN 'hypothetical'
            WHEN m.is_family AND m.is_negated THEN 'family_negated'
            WHEN m.is_family THEN 'family'
            WHEN m.label = 'ALLERGY' AND {_attribute_true('no_known_allergy')}
                THEN 'no_known_allergy'
            WHEN m.is_negated AND {_attribute_true('resolved')} THEN 'historical'
            WHEN m.is_negated THEN 'negated'
            WHEN m.is_uncertain THEN 'uncertain'
            WHEN m.is_historical THEN 'historical'
            ELSE 'affirmed' END"""

#: Position of the first ':' in the rule id (0 when there is none: the whole id is the name).
_COLON = {
    "sqlite": "INSTR(m.rule_id, ':')",
    "postgresql": "STRPOS(m.rule_id, ':')",
}

NEW_DISPLAY = """
       CASE WHEN c.code IS NOT NULL THEN c.display
            ELSE COALESCE(
                NULLIF(TRIM(REPLACE(REPLACE(SUBSTR(m.rule_id, {colon} + 1), '-', ' '), '_', ' ')),
                       ''),
                LOWER(m.label))
       END"""

OLD_DISPLAY = "c.display"

_VIEW = """
{verb} VIEW mention_current AS
SELECT m.mention_id, m.note_id, n.patient_ref, n.encounter_ref, n.note_type,
       n.authored_at AS note_date, m.label, m.section, m.start_char, m.end_char,
       {state} AS assertion,
       m.is_negated, m.is_uncertain, m.is_historical, m.is_hypothetical, m.is_family,
       m.is_conditional, m.experiencer,
       c.system AS concept_system, c.code AS concept_code, {display} AS concept_display,
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


def _replace(display: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # same columns and types (text), so the views built on mention_current keep working
        op.execute(_VIEW.format(verb="CREATE OR REPLACE", state=STATE, display=display))
    else:
        # SQLite keeps dependent views as text: they read the new definition
        op.execute("DROP VIEW IF EXISTS mention_current")
        op.execute(_VIEW.format(verb="CREATE", state=STATE, display=display))


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _replace(NEW_DISPLAY.format(colon=_COLON.get(dialect, _COLON["sqlite"])))


def downgrade() -> None:
    _replace(OLD_DISPLAY)
