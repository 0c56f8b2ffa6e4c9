"""What a mention's own clause states about it: a clinical status ("resolved", "held",
"in remission"), an onset ("since 2019", "at age 52") and, for a relative's problem, which
relative and at what age.

These are extractor rules (``rules/statements/statements.json``) whose results are mention
attributes, so the FHIR mappers read only the ``Mention`` and never the note text again:

=================  ==========================================  ==========================
attribute          set on                                      read by
=================  ==========================================  ==========================
``stated_status``  PROBLEM, ALLERGY, MEDICATION                 clinicalStatus / status
``onset``          PROBLEM (a year), unless an extractor set it  Condition.onsetDateTime
``onset_age``      PROBLEM (an age in years)                    onsetAge
``relative``       PROBLEM about a family member                FamilyMemberHistory
``relative_age``   PROBLEM about a family member ("at 52")      condition.onsetAge
=================  ==========================================  ==========================

The clause is at most 60 characters before the mention (from the last sentence or line
break) and 80 after it (to the first clause end).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

# Version history:
# 1 (2026-12): moved from the FHIR mappers (they read the note text before): status cues,
#    onset, relative and the relative's age, same patterns and clause.
# 2 (2026-12): medication statuses "intended" ("will start metformin", "plan to start",
#              "recommend starting", "consider adding"; only before the drug), "stopped" for
#              "is off", "no longer taking", "completed" ("completed a 7-day course of").
VERSION = 2


class _Rules:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.version = int(raw["version"])
        #: per label: (pattern, status code, side: "before", "after" or "" for both)
        self.status_cues = {
            label: [
                (
                    re.compile(rf"(?<![\w-])(?:{cue[0]})(?![\w-])", re.IGNORECASE),
                    cue[1],
                    cue[2] if len(cue) > 2 else "",
                )
                for cue in cues
            ]
            for label, cues in raw["status_cues"].items()
        }
        self.clause_end = re.compile(raw["clause_end"])
        self.onset = re.compile(raw["onset"], re.IGNORECASE)
        self.family_age = re.compile(raw["family_age"], re.IGNORECASE)
        words = sorted(raw["relatives"], key=len, reverse=True)
        self.relatives = frozenset(words)
        self.relative_re = re.compile(rf"(?<![\w-])({'|'.join(words)})(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def rules() -> _Rules:
    """The packaged statement rules (loaded once)."""
    path = resources.files("extractors") / "rules" / "statements" / "statements.json"
    return _Rules(json.loads(path.read_text(encoding="utf-8")))


def clause(text: str, start: int, end: int) -> tuple[str, str]:
    """Text of the clause before and after ``text[start:end]`` (60 and 80 characters at most)."""
    after = text[end : end + 80]
    m = rules().clause_end.search(after)
    after = after[: m.start()] if m else after
    before = text[max(0, start - 60) : start]
    cut = max(before.rfind("."), before.rfind(";"), before.rfind("\n"))
    return before[cut + 1 :], after


def statement_attributes(
    text: str,
    start: int,
    end: int,
    label: str,
    *,
    family: bool = False,
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The statement attributes of the mention ``text[start:end]`` (only those found; none
    that ``given``, the extractor's own attributes, already has)."""
    r = rules()
    cues = r.status_cues.get(label)
    if cues is None:
        return {}
    given = given or {}
    before, after = clause(text, start, end)
    out: dict[str, Any] = {}
    for pattern, code, side in cues:
        if (side != "before" and pattern.search(after)) or (
            side != "after" and pattern.search(before)
        ):
            out["stated_status"] = code
            break
    if label != "PROBLEM":
        return {k: v for k, v in out.items() if k not in given}
    m = r.onset.match(after)
    if m and m.group("year"):
        out["onset"] = m.group("year")
    elif m and 0 < int(m.group("age")) < 130:
        out["onset_age"] = int(m.group("age"))
    if family:
        found = r.relative_re.findall(before) or r.relative_re.findall(after[:40])[:1]
        if found:
            out["relative"] = found[-1].lower()
        m = r.family_age.match(after)
        if m and 0 < int(m.group("age")) < 130:
            out["relative_age"] = int(m.group("age"))
    return {k: v for k, v in out.items() if k not in given}
