"""Unit normalisation: unit text as written in notes -> UCUM code, checked with ucumvert."""

import re
from functools import cached_property

from extractors.patterns import load_rules


class UnitNormalizer:
    """Maps clinical unit text to UCUM codes; a code is returned only if it parses as UCUM.

    One instance per pipeline component (no module-level state); the ucumvert parser is
    built lazily on first use.
    """

    def __init__(self) -> None:
        table: dict[str, str] = load_rules("units", "units.json")["units"]
        self.table = {self._key(k): v for k, v in table.items()}
        self._cache: dict[str, str | None] = {}

    @staticmethod
    def _key(text: str) -> str:
        return re.sub(r"\s+", " ", text.strip()).lower()

    @cached_property
    def _parser(self):  # type: ignore[no-untyped-def]
        from ucumvert import get_ucum_parser

        return get_ucum_parser()

    def is_ucum(self, code: str) -> bool:
        """Whether ``code`` is a valid UCUM expression according to ucumvert's grammar."""
        try:
            self._parser.parse(code)
        except Exception:  # lark raises several error types for a bad unit
            return False
        return True

    def to_ucum(self, text: str | None) -> str | None:
        """UCUM code for unit ``text`` ("mEq/L" -> "meq/L", "mmHg" -> "mm[Hg]"), else None."""
        if not text:
            return None
        if text in self._cache:
            return self._cache[text]
        key = self._key(text)
        candidate = self.table.get(key) or self.table.get(key.replace(" ", ""))
        if candidate is None and re.fullmatch(r"[A-Za-z0-9/*.\[\]{}%^_]+", text):
            candidate = text  # already written as UCUM, e.g. "10*3/uL"
        code = candidate if candidate is not None and self.is_ucum(candidate) else None
        self._cache[text] = code
        return code
