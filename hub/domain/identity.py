"""Citizen identity numbers as events may carry them: a keyed hash and a masked form, never raw."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = ["ProtectedIdentity", "mask", "protect_identity", "redact"]

# CCCD (12 digits), CMND (9 digits), passport (a letter and 7 digits), standing alone in free text.
_IDENTITY_IN_TEXT = re.compile(r"(?<![\w.-])(\d{12}|\d{9}|[A-Z]\d{7})(?![\w-])")


@dataclass(frozen=True, slots=True)
class ProtectedIdentity:
    """What leaves the connector: enough to join on (hash) and to recognise (masked), not to recover."""

    id_type: str
    hash: str
    masked: str

    def as_record(self) -> dict[str, str]:
        return {"id_type": self.id_type, "hash": self.hash, "masked": self.masked}


def mask(number: str) -> str:
    """Keep the first 3 and last 2 characters (``001******45``); short numbers are masked whole."""
    number = number.strip()
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def protect_identity(number: str, key: bytes, id_type: str = "CCCD") -> ProtectedIdentity:
    """HMAC-SHA256 so equal numbers join within a deployment but a leaked log cannot be brute-forced
    without the key (a 12-digit CCCD has too few values for a plain hash)."""
    normalised = "".join(number.split()).upper()
    if not normalised:
        raise ValueError("empty identity number")
    digest = hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()
    return ProtectedIdentity(id_type=id_type, hash=digest, masked=mask(normalised))


def redact(text: str) -> str:
    """Free text (upstream error messages, details) with anything shaped like an identity number masked:
    what monitoring streams publish must not carry one, whoever wrote the text."""
    return _IDENTITY_IN_TEXT.sub(lambda m: mask(m.group(1)), text)
