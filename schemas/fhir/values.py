"""Value guards: anything from a note or an extractor passes through one of these before it
becomes a FHIR element."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

Resource = dict[str, Any]


# -- value guards: anything from a note or an extractor passes through one of these ----------
_CODE_OK = re.compile(r"[^\s]+(?: [^\s]+)*")
_ID_OK = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BAD_SPACE = re.compile(r"[^\S \r\n\t]")  # whitespace FHIR strings may not contain (NBSP, FF, …)


def _string(value: object) -> str | None:
    """A legal FHIR ``string`` or None."""
    if type(value) is not str:
        return None
    if _BAD_SPACE.search(value):
        value = _BAD_SPACE.sub(" ", value)
    return value if value.strip() else None


def _code(value: object) -> str | None:
    """A legal FHIR ``code`` (no leading/trailing or repeated whitespace) or None."""
    if type(value) is str and _CODE_OK.fullmatch(value):
        return value  # the common case: already clean
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = " ".join(str(value).split())
    return text if text and _CODE_OK.fullmatch(text) else None


_SPACE = re.compile(r"\s")


def _uri(value: object) -> str | None:
    if not isinstance(value, str) or not value or _SPACE.search(value):
        return None
    return value


def _decimal(value: object) -> int | float | None:
    """A finite JSON number or None (bools, NaN, infinities and strings are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 < value < 2**31 else None


_MAX_OFFSET = timedelta(hours=14)


def _instant(value: datetime) -> str:
    """FHIR instant/dateTime text; offsets FHIR cannot express (seconds, beyond ±14 h) → UTC."""
    offset = value.utcoffset()
    if offset is None or offset.seconds % 60 or abs(offset) > _MAX_OFFSET:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")


_DATE_OK = re.compile(r"(?:19|20)\d{2}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?")


def _partial_date(value: object) -> str | None:
    """A FHIR date (YYYY, YYYY-MM or a real YYYY-MM-DD) or None."""
    if not isinstance(value, str) or not _DATE_OK.fullmatch(value):
        return None
    if len(value) == 10:
        try:
            date.fromisoformat(value)
        except ValueError:
            return None  # 2019-02-31
    return value


def _coding(system: object, code: object, display: object = None) -> dict[str, str] | None:
    c = _code(code)
    if c is None:
        return None
    out = {"code": c}
    s = _uri(system)
    if s:
        out = {"system": s, "code": c}
    d = _string(display)
    if d:
        out["display"] = d
    return out
