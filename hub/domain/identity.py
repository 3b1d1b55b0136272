"""Citizen identity numbers as events may carry them: a keyed hash and a masked form, never raw."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FREE_TEXT_FIELDS", "ProtectedIdentity", "mask", "protect_identity", "redact", "redact_free_text"]

# What an identity number looks like in free text, whoever wrote it: a CCCD (12 digits; 10 or 11 when
# a system stored it as a number and lost its leading zeros) or a CMND (9 digits) as a run of 9-12
# digits not part of a longer one (10-digit phone numbers are masked with them: personal data too),
# whatever letters stand around it ("CCCD079203004512", "cccd_079203004512"); the same written in
# groups ("079 203 004 512", "079-203-004-512", "0792.0300.4512"); a passport number (a letter and 7
# digits, either case). Tokens that only look like numbers are kept whole: UUIDs (event ids), long hex
# digests and postal item codes (UPU S10: EB000000001VN).
_IDENTITY_IN_TEXT = re.compile(
    r"(?P<keep>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32,}"
    r"|(?<![A-Za-z])[A-Z]{2}\d{9}[A-Z]{2}(?![A-Za-z\d]))"
    r"|(?<!\d)(?<!\d[ .\-])(?P<grouped>\d{3}(?:[ .\-]\d{3}){2,3}|\d{4}(?:[ .\-]\d{4}){2})(?![\d]|[ .\-]\d)"
    r"|(?<!\d)(?P<digits>\d{9,12})(?!\d)"
    r"|(?<!\d)(?P<passport>[A-Za-z]\d{7})(?!\d)"
)
FREE_TEXT_FIELDS = frozenset({"reason", "description", "content", "summary", "note", "comment", "detail", "message"})
"""Payload fields that carry what a person typed upstream: an identity number may sit in any of them."""


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


def _masked(match: re.Match[str]) -> str:
    if match.group("keep"):
        return match.group("keep")
    found = match.group(0)
    return mask("".join(ch for ch in found if ch.isalnum()))


def redact(text: str) -> str:
    """Free text (what a person typed, upstream error messages, log lines) with anything shaped like an
    identity number masked: nothing the hub writes or publishes may carry one, whoever wrote the text."""
    return _IDENTITY_IN_TEXT.sub(_masked, text)


def redact_free_text(value: Any) -> Any:
    """``value`` (an event payload) with the FREE_TEXT_FIELDS in it redacted, however deeply they sit;
    the same object when nothing needed it."""
    if isinstance(value, dict):
        changed = {
            k: redact(v) if k in FREE_TEXT_FIELDS and isinstance(v, str) else redact_free_text(v)
            for k, v in value.items()
        }
        return value if all(changed[k] is value[k] for k in value) else changed
    if isinstance(value, list):
        items = [redact_free_text(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
