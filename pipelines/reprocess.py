"""Explicit re-processing after a rule or dictionary change: report first, write on request.

The nightly run only processes notes that are new or changed at the source. Stored notes
whose rules version differs from the current one are re-run by the same run path
(``pipelines.run.reprocess_notes``: the same privacy passes, lease, batching, workers and
load), reading their text again from the source since the warehouse need not store it. This
module turns the run's summary into a typed outcome for callers and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from warehouse.reprocess import ChangePlan, LabelChange


@dataclass
class ReprocessOutcome:
    """What a reprocess run found (and, when applied, wrote)."""

    rules_version: str
    notes_read: int = 0
    notes_selected: int = 0
    notes_current_rules: int = 0
    notes_not_loaded: int = 0
    notes_text_changed: int = 0
    notes_failed: int = 0
    applied: bool = False
    run_id: str | None = None
    plan: ChangePlan = field(default_factory=ChangePlan)

    @classmethod
    def from_summary(cls, summary: dict[str, Any], *, applied: bool) -> ReprocessOutcome:
        """The outcome of a ``reprocess_notes`` run from its summary."""
        plan = ChangePlan(
            notes=summary.get("selected", 0), notes_changed=summary.get("notes_changed", 0)
        )
        for label, counts in summary.get("plan", {}).items():
            plan.by_label[label] = LabelChange(**counts)
        return cls(
            rules_version=summary.get("rules_version", ""),
            notes_read=summary.get("read", 0),
            notes_selected=summary.get("selected", 0),
            notes_current_rules=summary.get("current_rules", 0),
            notes_not_loaded=summary.get("not_loaded", 0),
            notes_text_changed=summary.get("text_changed", 0),
            notes_failed=summary.get("failed", 0),
            applied=applied,
            run_id=summary.get("run_id") if applied else None,
            plan=plan,
        )


def reprocess(
    source: str,
    *,
    config_path: str | None = None,
    warehouse_url: str | None = None,
    apply: bool = False,
    all_notes: bool = False,
    workers: int = 1,
) -> ReprocessOutcome:
    """Diff (and with ``apply`` replace) the facts of stored notes under the current rules.

    Args:
        source: the source the notes were ingested from (their text is read from it).
        config_path: pipeline.toml (warehouse, extractors, privacy settings of the ingest).
        warehouse_url: overrides the configured warehouse.
        apply: write the new facts; otherwise nothing is written.
        all_notes: re-run every stored note of the source, not only those whose rules
            version differs from the current one.
        workers: NLP worker processes (0: in this process).
    """
    from pipelines.run import entry  # Prefect only when a Prefect API is configured

    summary = entry("reprocess")(
        source=source,
        config_path=config_path,
        warehouse_url=SecretStr(warehouse_url) if warehouse_url else None,
        apply=apply,
        all_notes=all_notes,
        workers=workers,
    )
    return ReprocessOutcome.from_summary(summary, applied=apply)
