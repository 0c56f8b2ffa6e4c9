"""Sections (``ns_sections``): medSpaCy's sectionizer and rules, without its per-token loop."""

import re
from bisect import bisect_right
from collections.abc import Iterable
from importlib import resources
from typing import Any

from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.section_detection import Section, Sectionizer, SectionRule
from spacy.language import Language
from spacy.tokens import Doc, Span

from extractors.base import doc_text

# Version history:
# 1 (2026-11): medspaCy Sectionizer with rules/sections/sections.json (MTSamples and Synthea
#              headers: "NAME:", "# Name", "## Name", upper-case header lines), headers must
#              start a line; token sections assigned lazily.
# 2 (2026-12): subsection headings (the organ systems of an exam: "HEENT:", "NECK:",
#              "ABDOMEN:", ...) end the subsection before them ("VITAL SIGNS:") and continue
#              the enclosing section; vital signs are a subsection of the physical exam.
# 3 (2026-12): discharge summaries' "Major Surgical or Invasive Procedure:" heading.
# 4 (2026-12): "Major Surgical and Invasive Procedure:" (singular).
# 5 (2026-12): a heading after only whitespace at the start of the note starts a line (radiology
#              reports that open with spaces: " INDICATION: ..."); a question section (rule
#              metadata "paragraph": the indication, reason for exam, clinical history of a
#              report) ends at its first blank line, so a report's narrative after it without a
#              heading is not read as the question ("REASON FOR EXAMINATION: fever.\n\nHeart
#              size is normal. ...").
# 6 (2026-12): a chest radiograph's views open the findings only as a heading in capitals
#              ("PA AND LATERAL CHEST:"; "Portable chest x-ray:" in a note's course is none).
VERSION = 6


def section_rules_path() -> str:
    """Path of the packaged sectionizer rules (medspaCy ``SectionRule`` JSON)."""
    return str(resources.files("extractors") / "rules" / "sections" / "sections.json")


class FastSectionizer(Sectionizer):  # type: ignore[misc]
    """medspaCy ``Sectionizer`` that fills ``doc._.sections`` but not ``token._.section``.

    medspaCy writes ``token._.section`` for every token (a Python loop, about half of its cost).
    Here only ``doc._.sections`` is set; :func:`assign_sections` sets ``token._.section`` on the
    first token of given spans (``ns_assertion`` does it for every mention), which is what
    ``span._.section_category`` reads. Components that need a token's section earlier call
    :func:`section_at`.
    """

    def _matchers(self) -> tuple[MedspacyMatcher, MedspacyMatcher | None, list[Any]]:
        """Our own matchers over the sectionizer's rules, in its order (so the same rule ids
        as medspaCy's, which it keeps private); built again when rules were added.

        A token pattern is tried at every token ("PA AND LATERAL CHEST:" cost 8 % of the whole
        pipeline): when every pattern rule says what a note must contain for it (metadata
        "needs", a string, then "needs_pattern"), a second matcher without them serves the
        notes that contain none of it. Returns (all rules, without the pattern rules or None,
        the needs)."""
        rules = self.rules
        cached = getattr(self, "_ns_matcher", None)
        if cached is None or cached[0] != len(rules):
            matcher = MedspacyMatcher(self.nlp, name=f"{self.name}_ns", phrase_matcher_attr="LOWER")
            matcher.add(rules)
            patterns = [r for r in rules if isinstance(r.pattern, list)]
            needs: list[Any] = []
            plain = None
            if patterns and all((r.metadata or {}).get("needs") for r in patterns):
                needs = [
                    (r.metadata["needs"], re.compile(r.metadata.get("needs_pattern") or ""))
                    for r in patterns
                ]
                plain = MedspacyMatcher(
                    self.nlp, name=f"{self.name}_ns_plain", phrase_matcher_attr="LOWER"
                )
                plain.add([r for r in rules if not isinstance(r.pattern, list)])
            cached = self._ns_matcher = (len(rules), matcher, plain, needs)
        return cached[1], cached[2], cached[3]

    def _matcher_for(self, doc: Doc) -> MedspacyMatcher:
        """The matcher for this note: without the pattern rules where it lacks their needs."""
        matcher, plain, needs = self._matchers()
        if plain is None:
            return matcher
        text = doc_text(doc)
        if any(lit in text and rx.search(text) for lit, rx in needs):
            return matcher
        return plain

    def __call__(self, doc: Doc) -> Doc:
        matcher = self._matcher_for(doc)
        matches = matcher(doc)
        if self.require_start_line:
            matches = [m for m in matches if _starts_line(doc, m[1], self.newline_pattern)]
        if self.require_end_line:
            matches = self.filter_end_lines(doc, matches)
        if self._parent_sections:
            matches = self.set_parent_sections(matches)
        n = len(doc)
        sections: list[Section] = []
        enclosing: str | None = None  # the category a subsection heading continues
        if not matches:
            doc._.sections = [Section(None, 0, 0, 0, n)]
            return doc
        if matches[0][1] != 0:
            sections.append(Section(None, 0, 0, 0, matches[0][1]))
        for i, match in enumerate(matches):
            parent = None
            if len(match) == 4:
                match_id, start, end, parent_idx = match
                if parent_idx is not None:
                    parent = sections[parent_idx]
            else:
                match_id, start, end = match
            rule = matcher.rule_map[self.nlp.vocab.strings[match_id]]
            category, enclosing = subsection_category(rule, enclosing)
            body_end = matches[i + 1][1] if i + 1 < len(matches) else n
            limit = rule.max_scope if rule.max_scope is not None else self.max_section_length
            if limit is not None:
                body_end = min(body_end, end + limit)
            if (rule.metadata or {}).get("paragraph"):
                body_end = paragraph_end(doc, end, body_end)
            sections.append(Section(category, start, end, end, body_end, parent, rule))
        doc._.sections = sections
        return doc


def _starts_line(doc: Doc, i: int, newline: re.Pattern[str]) -> bool:
    """Whether token ``i`` starts a line: the note's first token, a token after a line break,
    or one after nothing but whitespace at the start of the note (" INDICATION: ...")."""
    if i == 0 or newline.search(doc[i - 1].text_with_ws):
        return True
    return all(doc[j].is_space for j in range(i))


def paragraph_end(doc: Doc, start: int, end: int) -> int:
    """The end of the paragraph that begins at token ``start`` (at its text, after any blank
    lines right after the heading): the first blank line after it, or ``end``."""
    i = start
    while i < end and doc[i].is_space:
        i += 1
    for j in range(i, end):
        if doc[j].is_space and _BLANK_LINE.search(doc[j].text):
            return j
    return end


#: A blank line: two line breaks with nothing but spaces between them.
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def subsection_category(rule: SectionRule, enclosing: str | None) -> tuple[str, str | None]:
    """(category of the section ``rule`` opens, the category later subsections continue).

    A rule with ``metadata.subsection`` (an exam's "HEENT:", "ABDOMEN:") opens a subsection of
    the section it sits in: it ends the subsection before it (so "VITAL SIGNS:" stops at
    "HEENT:") and its body keeps the enclosing category (physical exam, review of systems,
    whatever it was), its own category only when nothing encloses it. Any other heading
    opens a section that later subsections continue, or, with ``metadata.subsection_of``,
    the section it is itself a subsection of (vital signs: the physical exam).
    """
    meta = rule.metadata or {}
    if meta.get("subsection"):
        return enclosing or rule.category, enclosing
    return rule.category, meta.get("subsection_of") or rule.category


def section_at(doc: Doc, i: int) -> Section | None:
    """The section that token ``i`` belongs to (title or body), or None."""
    sections = doc._.sections
    if not sections:
        return None
    starts = [s.title_span[0] for s in sections]
    k = bisect_right(starts, i) - 1
    if k < 0:
        return None
    section = sections[k]
    return section if i < section.body_span[1] else None


def assign_sections(doc: Doc, spans: Iterable[Span]) -> list[Section | None]:
    """Set ``token._.section`` on the first token of each span (read by ``span._.section*``).

    Returns:
        The section of each span, in order (None outside any section).
    """
    sections = doc._.sections
    spans = list(spans)
    if not sections:
        return [None] * len(spans)
    starts = [s.title_span[0] for s in sections]
    out: list[Section | None] = []
    for span in spans:
        section = None
        if len(span):
            k = bisect_right(starts, span.start) - 1
            if k >= 0 and span.start < sections[k].body_span[1]:
                section = sections[k]
                span[0]._.section = section
        out.append(section)
    return out


@Language.factory(
    "ns_sections",
    default_config={"rules": None, "require_start_line": True, "max_section_length": None},
)
def make_sectionizer(
    nlp: Language,
    name: str,
    rules: str | None,
    require_start_line: bool,
    max_section_length: int | None,
) -> FastSectionizer:
    """spaCy factory for :class:`FastSectionizer` (``rules``: JSON path; None = packaged)."""
    return FastSectionizer(
        nlp,
        name=name,
        rules=rules or section_rules_path(),
        require_start_line=require_start_line,
        max_section_length=max_section_length,
        span_attrs=None,
    )
