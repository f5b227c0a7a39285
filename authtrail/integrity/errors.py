"""The integrity package's errors: one family under :class:`authtrail.errors.AuthtrailError`.

A verifier must *name* what is wrong (a bad proof, a foreign key, a broken chain), so each
failure is its own class and carries a sentence; callers branch on the class, never on text.
"""

from __future__ import annotations

from authtrail.errors import AuthtrailError


class IntegrityError(AuthtrailError):
    """Base of every integrity failure."""


class ProofError(IntegrityError):
    """An inclusion or consistency proof does not hold (or is malformed)."""


class RootMismatchError(ProofError):
    """The proof is well-formed but leads to another root: the log's content differs."""

    def __init__(self, what: str, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"{what}: the proof leads to root {calculated.hex()}, not {expected.hex()}")
        self.expected = expected
        self.calculated = calculated


class CompactRangeError(IntegrityError):
    """A persisted compact range is inconsistent (hash count or size does not match)."""


class CanonicalJsonError(IntegrityError):
    """A value has no canonical JSON form (NaN, a non-string key, a lone surrogate, …)."""


class LeafError(IntegrityError):
    """An event cannot be encoded as a leaf (a field is missing or has the wrong type)."""


class CheckpointError(IntegrityError):
    """A checkpoint is malformed, or does not follow the one before it."""


class SignatureError(IntegrityError):
    """A checkpoint's signature does not verify, or was made by another key."""


class KeyFileError(IntegrityError):
    """A key file is missing, unreadable, not the expected kind of key, or already exists."""
