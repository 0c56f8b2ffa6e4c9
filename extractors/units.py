"""Unit normalisation: unit text as written in notes -> UCUM code, checked with ucumvert."""

import importlib.util
import re
from functools import cache, lru_cache
from pathlib import Path

from extractors.patterns import load_rules

#: ucumvert's grammar file (``ucumvert/ucum_grammar.lark``), read by ``get_ucum_parser``.
_GRAMMAR = "ucum_grammar.lark"


@cache
def _ucum_parser():  # type: ignore[no-untyped-def]
    """ucumvert's UCUM parser, built once per process on first use.

    Built as ``ucumvert.get_ucum_parser()`` builds it (Lark over ucumvert's grammar file)
    without importing the ``ucumvert`` package, whose ``__init__`` imports pint (~0.7 s).
    """
    spec = importlib.util.find_spec("ucumvert")
    locations = list(spec.submodule_search_locations or []) if spec else []
    grammar = next((Path(p) / _GRAMMAR for p in locations if (Path(p) / _GRAMMAR).is_file()), None)
    if grammar is None:  # another layout: let ucumvert build it
        from ucumvert import get_ucum_parser

        return get_ucum_parser()
    from lark import Lark

    return Lark(grammar.read_text(encoding="utf8"), start="main_term", strict=True)


@lru_cache(maxsize=4096)
def _is_ucum(code: str) -> bool:
    """Whether ``code`` parses as UCUM (a parse takes milliseconds: cached per process)."""
    try:
        _ucum_parser().parse(code)
    except Exception:  # lark raises several error types for a bad unit
        return False
    return True


#: Denominators written as words or abbreviations the unit table does not hold by themselves.
_PER: dict[str, str] = {
    "kg": "kg", "kilogram": "kg", "kilograms": "kg", "m2": "m2", "m²": "m2", "day": "d",
    "d": "d", "hr": "h", "hour": "h", "h": "h", "min": "min", "minute": "min", "week": "wk",
    "wk": "wk", "month": "mo", "mo": "mo", "dose": "{dose}", "mm3": "mm3", "ml": "mL",
    "l": "L", "ul": "uL", "µl": "uL", "dl": "dL",
    # written out: "milligrams per deciliter", "millimoles per liter"
    "deciliter": "dL", "decilitre": "dL", "liter": "L", "litre": "L", "milliliter": "mL",
    "millilitre": "mL", "microliter": "uL", "microlitre": "uL", "millimoles": "mmol",
    "millimole": "mmol", "micromoles": "umol", "nanograms": "ng", "picograms": "pg",
    "cubicmillimeter": "mm3", "seconds": "s", "second": "s", "minutes": "min", "hours": "h",
}  # fmt: skip


class UnitNormalizer:
    """Maps clinical unit text to UCUM codes; a code is returned only if it parses as UCUM.

    One instance per pipeline component; the ucumvert parser is built lazily on first use and,
    with the validity of each code, shared by all instances (both are fixed for a process).
    """

    def __init__(self) -> None:
        table: dict[str, str] = load_rules("units", "units.json")["units"]
        self.table = {self._key(k): v for k, v in table.items()}
        self._cache: dict[str, str | None] = {}

    @staticmethod
    def _key(text: str) -> str:
        # Greek mu for the micro sign, "×" for "x"; a power of ten whose superscript was lost
        # in copying ("× 109/L", "x10 9/l") read as written ("x10^9/l")
        text = text.replace("μ", "µ").replace("×", "x")
        text = re.sub(r"(?i)^x\s?10\s?([369]|12)\s?/", r"x10^\1/", text.strip())
        return re.sub(r"\s+", " ", text).lower()

    def _per(self, squeezed: str) -> str | None:
        """A unit per weight, area or time built from known pieces: "mcg/kg/min" ->
        "ug/kg/min", "milligrams/kg" -> "mg/kg", "g/kg/day" -> "g/kg/d"."""
        pieces = []
        for piece in squeezed.split("/"):
            power = re.fullmatch(r"x10\^(\d{1,2})", piece)  # a count: "x10^3/mm3" -> 10*3/mm3
            code = f"10*{power.group(1)}" if power else self.table.get(piece) or _PER.get(piece)
            if code is None:
                return None
            pieces.append(code)
        code = "/".join(pieces)
        return code if self.is_ucum(code) else None

    def is_ucum(self, code: str) -> bool:
        """Whether ``code`` is a valid UCUM expression according to ucumvert's grammar."""
        return _is_ucum(code)

    def to_ucum(self, text: str | None) -> str | None:
        """UCUM code for unit ``text`` ("mEq/L" -> "meq/L", "mmHg" -> "mm[Hg]"), else None."""
        if not text:
            return None
        if text in self._cache:
            return self._cache[text]
        key = self._key(text)
        # the table's codes are valid UCUM (test_every_table_code_is_valid_ucum): only text
        # written as UCUM is parsed, so most runs never build the parser (0.09 s)
        squeezed = key.replace(" ", "")
        code = (
            self.table.get(key)
            or self.table.get(squeezed)
            or self.table.get(squeezed.replace("µ", "u"))  # "µg/dL" as "ug/dL"
        )
        if code is None and re.fullmatch(r"[A-Za-z0-9/*.\[\]{}%^_]+", text):
            code = text if self.is_ucum(text) else None  # already UCUM, e.g. "10*3/uL"
        if code is None and " per " in key:  # "grams per deciliter" -> g/dL
            code = self._per(key.replace(" per ", "/").replace(" ", ""))
        elif code is None and "/" in squeezed:
            code = self._per(squeezed)
        self._cache[text] = code
        return code
