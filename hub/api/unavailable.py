"""503 answers that tell a caller what to do without telling them how the hub is built: the detail of
the failure (broker addresses, driver messages) goes to the hub's log under a reference the answer
carries. A missing read model is said as it is: it names no host and tells the operator the fix."""

from __future__ import annotations

import logging
import secrets

from fastapi import HTTPException, status

from hub.errors import HubError, MissingProjectionError

__all__ = ["unavailable"]

log = logging.getLogger(__name__)


def unavailable(exc: HubError, what: str = "the hub") -> HTTPException:
    """The 503 for ``exc``; logs its detail under the reference the answer gives."""
    if isinstance(exc, MissingProjectionError):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    reference = secrets.token_hex(4)
    log.warning("503 %s (reference %s): %s", what, reference, exc)
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{what} cannot answer now: a service it depends on is unavailable (reference {reference} in its log)",
    )
