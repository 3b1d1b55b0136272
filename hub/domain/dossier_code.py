"""Dossier codes (mã hồ sơ), parsed tolerantly.

Circular 01/2018 art. 19: ``UNIT-YYMMDD-NNNN`` (``000.00.20.H56-260609-0001``); newer systems write an
8-digit date and a longer number (``G09.20-20260609-0092637``). Anything else that is non-empty and
has no whitespace is still accepted as a code (provinces differ), just without parsed parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["DossierCode", "parse_dossier_code"]

_PATTERN = re.compile(r"^(?P<unit>.+)-(?P<date>\d{6}|\d{8})-(?P<number>\d{1,10})$")


@dataclass(frozen=True, slots=True)
class DossierCode:
    code: str
    unit: str | None = None
    day: date | None = None
    number: int | None = None


def parse_dossier_code(text: str) -> DossierCode:
    """The normalised code (trimmed) and its parts when it follows a known pattern; ValueError if unusable."""
    code = (text or "").strip()
    if not code or any(ch.isspace() for ch in code) or len(code) > 64:
        raise ValueError(f"not a dossier code: {text!r}")
    match = _PATTERN.match(code)
    if match is None:
        return DossierCode(code)
    digits = match["date"]
    try:
        day = (
            date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
            if len(digits) == 6
            else date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        )
    except ValueError:
        return DossierCode(code)
    return DossierCode(code, match["unit"], day, int(match["number"]))
