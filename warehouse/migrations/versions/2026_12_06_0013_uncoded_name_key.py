"""mention_current.concept_key tells uncoded drugs apart by the hash of their name

Every drug that an earlier extractor found but nothing codes has the rule id ``med-sig``, so
``concept_key`` (``rule:<rule id>`` for an uncoded mention) put all of a patient's uncoded
drugs into one ``medication_list`` row and one ``patient_concept_feature`` group, named 'med
sig'. From medications extractor version 5 such a mention carries the attribute ``name_key``
(``schemas.ids.name_key``: a SHA-256 of the label and the drug name as written, case, spaces
and punctuation folded), computed in Python at extraction, so SQLite and PostgreSQL agree.
From this revision a mention without a primary code that has a ``name_key`` gets
``concept_key`` ``name:<name_key>`` and ``concept_display`` 'uncoded ' + its label in lower
case ('uncoded medication'): different drugs are different concepts, the same drug written
the same way in two notes is one concept, and no view shows the name (note text).

Other uncoded mentions keep ``rule:<rule id>`` and the name of revision 0012, and coded ones
their code. Mentions loaded before version 5 have no ``name_key`` and stay ``rule:med-sig``
until re-processed (``notestruct reprocess SOURCE --all --apply``).

``name_key`` is read from ``mention_attribute`` (primary key ``mention_id, key``: at most one
row per mention). Only ``mention_current`` changes; the views built on it read the new
columns unchanged. Column names and types stay as they were; the downgrade restores the SQL
of revision 0012.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
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

# the name of an uncoded mention by its rule, as revision 0012 has it
_RULE_NAME = """COALESCE(
                NULLIF(TRIM(REPLACE(REPLACE(SUBSTR(m.rule_id, {colon} + 1), '-', ' '), '_', ' ')),
                       ''),
                LOWER(m.label))"""

NEW_DISPLAY = f"""
       CASE WHEN c.code IS NOT NULL THEN c.display
            WHEN nk.value_text IS NOT NULL THEN 'uncoded ' || LOWER(m.label)
            ELSE {_RULE_NAME}
       END"""

OLD_DISPLAY = f"""
       CASE WHEN c.code IS NOT NULL THEN c.display
            ELSE {_RULE_NAME}
       END"""

NEW_KEY = """COALESCE(c.system || '|' || c.code, 'name:' || nk.value_text, 'rule:' || m.rule_id,
                'label:' || m.label)"""

OLD_KEY = "COALESCE(c.system || '|' || c.code, 'rule:' || m.rule_id, 'label:' || m.label)"

NEW_JOIN = """
LEFT JOIN mention_attribute nk ON nk.mention_id = m.mention_id AND nk.key = 'name_key'"""

OLD_JOIN = ""

_VIEW = """
{verb} VIEW mention_current AS
SELECT m.mention_id, m.note_id, n.patient_ref, n.encounter_ref, n.note_type,
       n.authored_at AS note_date, m.label, m.section, m.start_char, m.end_char,
       {state} AS assertion,
       m.is_negated, m.is_uncertain, m.is_historical, m.is_hypothetical, m.is_family,
       m.is_conditional, m.experiencer,
       c.system AS concept_system, c.code AS concept_code, {display} AS concept_display,
       {key}
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
) c ON c.mention_id = m.mention_id AND c.rn = 1{join}
"""


def _replace(display: str, key: str, join: str) -> None:
    dialect = op.get_bind().dialect.name
    display = display.format(colon=_COLON.get(dialect, _COLON["sqlite"]))
    parts = {"state": STATE, "display": display, "key": key, "join": join}
    if dialect == "postgresql":
        # same columns and types (text), so the views built on mention_current keep working
        op.execute(_VIEW.format(verb="CREATE OR REPLACE", **parts))
    else:
        # SQLite keeps dependent views as text: they read the new definition
        op.execute("DROP VIEW IF EXISTS mention_current")
        op.execute(_VIEW.format(verb="CREATE", **parts))


def upgrade() -> None:
    _replace(NEW_DISPLAY, NEW_KEY, NEW_JOIN)


def downgrade() -> None:
    _replace(OLD_DISPLAY, OLD_KEY, OLD_JOIN)
