"""The hub's exception tree: one root, a few children that callers can act on."""

__all__ = [
    "ConfigError",
    "DecodeError",
    "EventValidationError",
    "HubError",
    "MappingError",
    "MissingProjectionError",
    "SchemaCompatibilityError",
    "UpstreamError",
]


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(HubError):
    """Settings are missing or contradictory; the message says which variable to set."""


class DecodeError(HubError):
    """Bytes on a topic could not be turned into an event; ``reason`` is short and stable for headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventValidationError(HubError):
    """An event does not match its schema; ``path`` names the offending field (e.g. ``payload.due_at``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


class SchemaCompatibilityError(HubError):
    """A schema change would break readers of data already written."""


class MissingProjectionError(HubError):
    """A read model has no tables yet: `hub projections run` has not run on this read store."""


class UpstreamError(HubError):
    """An external system (broker, registry, government system) failed or refused a call."""


class MappingError(HubError):
    """An upstream record cannot become an event; ``reason`` goes to the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
