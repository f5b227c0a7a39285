"""One base error for the project; each layer raises a subclass and wraps library errors."""

from __future__ import annotations


class AuthtrailError(Exception):
    """Base of every error authtrail raises on purpose."""


class ConfigurationError(AuthtrailError):
    """A setting is missing, malformed or unknown."""


class DependencyUnavailableError(AuthtrailError):
    """A server authtrail needs (broker, registry, Connect, store) did not answer in time."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component} unavailable: {detail}")
        self.component = component
        self.detail = detail


class RecordRejectedError(AuthtrailError):
    """A record that cannot be stored, with a stable reason code (a dead-letter header) and a
    sentence for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StackError(AuthtrailError):
    """The local stack could not be fetched, built or started."""
