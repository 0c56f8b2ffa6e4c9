"""analyst views: mention_current, condition_current, problem_list, medication_list,
observation_series, negated_finding, family_history, note_status, run_history,
mention_attribute_current, patient_concept_feature

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:58:00

The SQL is portable between SQLite (>= 3.25: window functions, TRUE/FALSE) and PostgreSQL,
except where JSON is read (condition_current), which has one form per dialect. Views hide
versioning (only notes whose current status is ``processed`` contribute facts) and expose no
note text. The column contract is ``warehouse.views.VIEWS``; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LATEST_FIRST = "CASE WHEN note_date IS NULL THEN 1 ELSE 0 END, note_date DESC, note_id DESC"

MENTION_CURRENT = """
CREATE VIEW mention_current AS
SELECT m.mention_id, m.note_id, n.patient_ref, n.encounter_ref, n.note_type,
       n.authored_at AS note_date, m.label, m.section, m.start_char, m.end_char,
       CASE WHEN m.is_family THEN 'family'
            WHEN m.is_hypothetical THEN 'hypothetical'
            WHEN m.is_negated THEN 'negated'
            WHEN m.is_uncertain THEN 'uncertain'
            WHEN m.is_historical THEN 'historical'
            WHEN m.is_conditional THEN 'conditional'
            ELSE 'affirmed' END AS assertion,
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

CONDITION_CURRENT = """
CREATE VIEW condition_current AS
SELECT fr.resource_id AS condition_id, mc.patient_ref, mc.note_id, mc.note_date,
       mc.mention_id, mc.concept_system, mc.concept_code, mc.concept_display,
       {verification} AS verification_status,
       {clinical} AS clinical_status,
       mc.section
FROM mention_current mc
JOIN fhir_resource fr ON fr.mention_id = mc.mention_id AND fr.resource_type = 'Condition'
"""
_JSON_PATH = {
    "sqlite": "json_extract(fr.resource, '$.{0}.coding[0].code')",
    "postgresql": "fr.resource #>> '{{{0},coding,0,code}}'",
}

PROBLEM_LIST = f"""
CREATE VIEW problem_list AS
WITH p AS (
    SELECT patient_ref, concept_key, concept_system, concept_code, concept_display,
           note_id, note_date, is_negated, is_uncertain, is_historical
    FROM mention_current
    WHERE label = 'PROBLEM' AND patient_ref IS NOT NULL
      AND NOT is_family AND NOT is_hypothetical
),
ranked AS (
    SELECT patient_ref, concept_key, note_id, note_date,
           ROW_NUMBER() OVER (PARTITION BY patient_ref, concept_key ORDER BY {_LATEST_FIRST}) AS rn
    FROM (SELECT DISTINCT patient_ref, concept_key, note_id, note_date FROM p) d
),
latest AS (
    SELECT r.patient_ref, r.concept_key, r.note_id, r.note_date,
           SUM(CASE WHEN NOT p.is_negated AND NOT p.is_uncertain THEN 1 ELSE 0 END) AS affirmed,
           SUM(CASE WHEN NOT p.is_negated AND NOT p.is_uncertain AND NOT p.is_historical
                    THEN 1 ELSE 0 END) AS current_affirmed
    FROM ranked r
    JOIN p ON p.patient_ref = r.patient_ref AND p.concept_key = r.concept_key
          AND p.note_id = r.note_id
    WHERE r.rn = 1
    GROUP BY r.patient_ref, r.concept_key, r.note_id, r.note_date
),
stats AS (
    SELECT patient_ref, concept_key,
           MAX(concept_system) AS concept_system, MAX(concept_code) AS concept_code,
           MAX(concept_display) AS concept_display,
           MIN(CASE WHEN NOT is_negated AND NOT is_uncertain THEN note_date END) AS first_noted,
           COUNT(DISTINCT CASE WHEN NOT is_negated AND NOT is_uncertain THEN note_id END)
               AS note_count
    FROM p
    GROUP BY patient_ref, concept_key
)
SELECT s.patient_ref, s.concept_system, s.concept_code, s.concept_display, s.concept_key,
       s.first_noted, l.note_date AS last_noted, l.note_id AS last_note_id, s.note_count,
       CASE WHEN l.current_affirmed = 0 THEN TRUE ELSE FALSE END AS historical_only
FROM latest l
JOIN stats s ON s.patient_ref = l.patient_ref AND s.concept_key = l.concept_key
WHERE l.affirmed > 0
"""


def _attr(key: str) -> str:
    return f"MAX(CASE WHEN key = '{key}' THEN value_text END)"


MEDICATION_LIST = f"""
CREATE VIEW medication_list AS
WITH med AS (
    SELECT patient_ref, concept_system, concept_code, concept_display, concept_key,
           is_negated, is_historical, is_uncertain, note_id, note_date, mention_id,
           ROW_NUMBER() OVER (
               PARTITION BY patient_ref, concept_key ORDER BY {_LATEST_FIRST}, start_char
           ) AS rn
    FROM mention_current
    WHERE label = 'MEDICATION' AND patient_ref IS NOT NULL
      AND NOT is_family AND NOT is_hypothetical
),
attr AS (
    SELECT mention_id,
           COALESCE({_attr('strength')},
                    {_attr('strength.value')} || COALESCE(' ' || {_attr('strength.unit')}, ''))
               AS strength,
           COALESCE({_attr('dose')},
                    {_attr('dose.value')} || COALESCE(' ' || {_attr('dose.unit')}, ''),
                    {_attr('dose.value_low')} || '-' || {_attr('dose.value_high')}
                        || COALESCE(' ' || {_attr('dose.unit')}, '')) AS dose,
           COALESCE({_attr('route')}, {_attr('route.display')}, {_attr('route.code')}) AS route,
           COALESCE({_attr('frequency')}, {_attr('frequency.code')},
                    {_attr('frequency.frequency')} || ' per ' || {_attr('frequency.period')}
                        || ' ' || {_attr('frequency.period_unit')}) AS frequency,
           {_attr('prn')} AS prn
    FROM mention_attribute
    GROUP BY mention_id
)
SELECT med.patient_ref, med.concept_system, med.concept_code, med.concept_display,
       med.concept_key,
       CASE WHEN med.is_negated THEN 'not-taken'
            WHEN med.is_historical THEN 'completed'
            WHEN med.is_uncertain THEN 'unknown'
            ELSE 'active' END AS status,
       a.strength, a.dose, a.route, a.frequency,
       CASE WHEN a.prn = 'true' THEN TRUE ELSE FALSE END AS prn,
       med.note_date AS last_noted, med.note_id AS last_note_id, med.mention_id
FROM med
LEFT JOIN attr a ON a.mention_id = med.mention_id
WHERE med.rn = 1
"""


def _num(key: str) -> str:
    return f"MAX(CASE WHEN key = '{key}' THEN value_num END)"


OBSERVATION_SERIES = f"""
CREATE VIEW observation_series AS
WITH attr AS (
    SELECT mention_id,
           {_num('value')} AS value_num,
           COALESCE({_attr('value')}, {_attr('value_string')}) AS value_text,
           COALESCE({_attr('ucum')}, {_attr('unit')}) AS unit,
           {_num('systolic')} AS systolic,
           {_num('diastolic')} AS diastolic,
           COALESCE({_attr('flag')}, {_attr('interpretation')}) AS interpretation
    FROM mention_attribute
    GROUP BY mention_id
)
SELECT mc.patient_ref, mc.note_id, mc.note_date, mc.label, mc.concept_system,
       mc.concept_code, mc.concept_display, a.value_num,
       COALESCE(a.value_text,
                CASE WHEN a.systolic IS NOT NULL
                     THEN CAST(CAST(a.systolic AS INTEGER) AS VARCHAR(16)) || '/'
                          || CAST(CAST(a.diastolic AS INTEGER) AS VARCHAR(16)) END) AS value_text,
       a.unit, a.systolic, a.diastolic, a.interpretation, mc.is_negated, mc.mention_id
FROM mention_current mc
LEFT JOIN attr a ON a.mention_id = mc.mention_id
WHERE mc.label IN ('VITAL', 'LAB') AND NOT mc.is_family AND NOT mc.is_hypothetical
"""

NEGATED_FINDING = """
CREATE VIEW negated_finding AS
SELECT patient_ref, note_id, note_date, label, concept_system, concept_code, concept_display,
       section, mention_id
FROM mention_current
WHERE is_negated AND NOT is_family
"""

FAMILY_HISTORY = """
CREATE VIEW family_history AS
SELECT patient_ref, note_id, note_date, label, concept_system, concept_code, concept_display,
       experiencer AS relative, is_negated, mention_id
FROM mention_current
WHERE is_family
"""

NOTE_STATUS = """
CREATE VIEW note_status AS
WITH last_error AS (
    SELECT note_id, stage, error_type, source, created_at,
           ROW_NUMBER() OVER (PARTITION BY note_id ORDER BY created_at DESC, error_id DESC) AS rn
    FROM note_error
    WHERE note_id IS NOT NULL
)
SELECT n.note_id, n.source, n.patient_ref, n.note_type, n.authored_at AS note_date, n.status,
       n.source_status, n.mention_count, n.processed_at,
       CASE WHEN n.status = 'failed' THEN e.stage END AS error_stage,
       CASE WHEN n.status = 'failed' THEN e.error_type END AS error_type
FROM note n
LEFT JOIN last_error e ON e.note_id = n.note_id AND e.rn = 1
UNION ALL
SELECT e.note_id, e.source, NULL, NULL, NULL, 'failed', NULL, 0, e.created_at,
       e.stage, e.error_type
FROM last_error e
WHERE e.rn = 1 AND NOT EXISTS (SELECT 1 FROM note n WHERE n.note_id = e.note_id)
"""

RUN_HISTORY = """
CREATE VIEW run_history AS
SELECT r.run_id, r.flow, r.status, r.started_at, r.finished_at, r.duration_s,
       r.pipeline_version, r.rules_version, r.dictionary_version, r.source_kind,
       r.notes_seen, r.notes_processed, r.notes_unchanged, r.notes_failed, r.notes_retracted,
       r.mentions, r.resources,
       CASE WHEN r.duration_s > 0 THEN r.notes_seen / r.duration_s END AS notes_per_s,
       (SELECT COUNT(*) FROM note_error e WHERE e.run_id = r.run_id) AS error_rows
FROM pipeline_run r
"""

MENTION_ATTRIBUTE_CURRENT = """
CREATE VIEW mention_attribute_current AS
SELECT a.mention_id, a.note_id, mc.patient_ref, mc.label, a.key, a.value_text, a.value_num
FROM mention_attribute a
JOIN mention_current mc ON mc.mention_id = a.mention_id
"""

PATIENT_CONCEPT_FEATURE = """
CREATE VIEW patient_concept_feature AS
SELECT patient_ref, label, MAX(concept_system) AS concept_system,
       MAX(concept_code) AS concept_code, MAX(concept_display) AS concept_display,
       concept_key, assertion,
       COUNT(*) AS mention_count, COUNT(DISTINCT note_id) AS note_count,
       MIN(note_date) AS first_seen, MAX(note_date) AS last_seen
FROM mention_current
WHERE patient_ref IS NOT NULL
GROUP BY patient_ref, label, concept_key, assertion
"""

#: Creation order (dependencies first); dropped in reverse.
VIEWS: tuple[tuple[str, str], ...] = (
    ("mention_current", MENTION_CURRENT),
    ("condition_current", CONDITION_CURRENT),
    ("problem_list", PROBLEM_LIST),
    ("medication_list", MEDICATION_LIST),
    ("observation_series", OBSERVATION_SERIES),
    ("negated_finding", NEGATED_FINDING),
    ("family_history", FAMILY_HISTORY),
    ("note_status", NOTE_STATUS),
    ("run_history", RUN_HISTORY),
    ("mention_attribute_current", MENTION_ATTRIBUTE_CURRENT),
    ("patient_concept_feature", PATIENT_CONCEPT_FEATURE),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    path = _JSON_PATH.get(dialect, _JSON_PATH["sqlite"])
    for _name, sql in VIEWS:
        if "{verification}" in sql:
            sql = sql.format(
                verification=path.format("verificationStatus"),
                clinical=path.format("clinicalStatus"),
            )
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
