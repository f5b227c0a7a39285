"""Signed checkpoints: a company's tree size and root at a moment, chained and signed (Ed25519).

A checkpoint is ``{company_id, tree_size, root_hash, time, previous, key_id}``: the root of
the company's first ``tree_size`` leaves (:mod:`authtrail.integrity.merkle`), when it was
taken, the SHA-256 of the previous checkpoint's signed bytes (``null`` for the first), and the
id of the key that signs it. Like CloudTrail's digest files (``previousDigestSignature``) the
chain makes a replaced or dropped checkpoint show; the signature makes a forged one show; a
consistency proof between consecutive sizes shows the tree itself was only appended to.

**Signed bytes** — what is signed, and what ``previous`` hashes::

    b"authtrail-checkpoint/v1\\n" || canonical_json(checkpoint)

``canonical_json`` is the one used for leaves (RFC 8785, integers exact); a checkpoint holds
only integers and ASCII strings, so it is simply the object with sorted keys and no
whitespace (any JSON library's ``sort_keys`` + compact separators reproduces it, as long as it
keeps integers above 2^53 exact)::

    {"company_id":42,"key_id":"<16 hex>","previous":"<64 hex>"|null,"root_hash":"<64 hex>",
     "time":"2026-05-01T12:00:00.000Z","tree_size":17}

* ``root_hash``, ``previous``: lowercase hex of 32 bytes; ``key_id``: lowercase hex of the first
  8 bytes of SHA-256 of the raw 32-byte Ed25519 public key; ``time``: UTC, milliseconds, ``Z``.
* The signature is Ed25519 (RFC 8032, pure) over those bytes, served as lowercase hex.
* The first line is a domain separator: these bytes can never be mistaken for any other
  message the same key might sign, nor for another version of this format.

Why canonical JSON and not a C2SP signed note (the text checkpoints of Go's sumdb and
sigsum): the API serves checkpoints as JSON and verifiers already canonicalise JSON for
leaves, so the signed bytes follow from the served object by one rule, with no second
representation (base64 roots, a different key hash) to keep in step. We use no witness
network, which is what would make the note format pay for itself.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from authtrail.integrity.canonical_json import canonical_json
from authtrail.integrity.errors import CheckpointError, KeyFileError, SignatureError

SIGNED_PREFIX = b"authtrail-checkpoint/v1\n"
_HEX_32 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_FIELDS = frozenset({"company_id", "tree_size", "root_hash", "time", "previous", "key_id"})


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed statement; validated on construction so a malformed one never gets signed."""

    company_id: int
    tree_size: int
    root_hash: str
    time: str
    previous: str | None
    key_id: str

    def __post_init__(self) -> None:
        for name in ("company_id", "tree_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
                raise CheckpointError(f"{name} must be a non-negative 64-bit integer, not {value!r}")
        _require(self.root_hash, _HEX_32, "root_hash", "64 lowercase hex digits")
        if self.previous is not None:
            _require(self.previous, _HEX_32, "previous", "64 lowercase hex digits or null")
        _require(self.key_id, _KEY_ID, "key_id", "16 lowercase hex digits")
        _require(self.time, _TIME, "time", "UTC with milliseconds, e.g. 2026-05-01T12:00:00.000Z")
        try:
            datetime.strptime(self.time, "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            raise CheckpointError(f"time {self.time!r} is not a real date and time") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Checkpoint:
        """Exactly the six fields: an extra one would be served yet not signed."""
        if set(data) != _FIELDS:
            raise CheckpointError(
                f"a checkpoint has exactly the fields {sorted(_FIELDS)}, not {sorted(data)}"
            )
        return cls(**data)  # type: ignore[arg-type]  # types checked in __post_init__

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def signed_bytes(self) -> bytes:
        return SIGNED_PREFIX + canonical_json(self.to_dict())

    def digest(self) -> str:
        """Hex SHA-256 of the signed bytes: what the next checkpoint's ``previous`` names."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: str

    def __post_init__(self) -> None:
        _require(self.signature, _SIGNATURE, "signature", "128 lowercase hex digits")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SignedCheckpoint:
        """The API's form: the checkpoint's fields plus ``signature``."""
        body = {name: value for name, value in data.items() if name != "signature"}
        signature = data.get("signature")
        if not isinstance(signature, str):
            raise CheckpointError("a signed checkpoint needs a signature string")
        return cls(Checkpoint.from_dict(body), signature)

    def to_dict(self) -> dict[str, object]:
        return {**self.checkpoint.to_dict(), "signature": self.signature}


def new_checkpoint(
    company_id: int, tree_size: int, root: bytes, time: datetime, previous: Checkpoint | None, key_id: str
) -> Checkpoint:
    """The checkpoint that follows ``previous`` (``None`` for a company's first)."""
    made = Checkpoint(
        company_id=company_id,
        tree_size=tree_size,
        root_hash=root.hex(),
        time=format_time(time),
        previous=previous.digest() if previous is not None else None,
        key_id=key_id,
    )
    check_follows(previous, made)
    return made


def check_follows(previous: Checkpoint | None, current: Checkpoint) -> None:
    """``current`` may come right after ``previous`` in one company's chain: it names it, and
    neither the company, the size nor the time goes backwards. (That the larger tree extends
    the smaller one takes a consistency proof: :func:`authtrail.integrity.merkle.verify_consistency`.)
    """
    if previous is None:
        if current.previous is not None:
            raise CheckpointError(
                f"checkpoint at size {current.tree_size} names a predecessor that is missing"
            )
        return
    if current.previous != previous.digest():
        raise CheckpointError(
            f"checkpoint at size {current.tree_size} does not name the one at size {previous.tree_size}"
        )
    if current.company_id != previous.company_id:
        raise CheckpointError(
            f"company {current.company_id} follows a checkpoint of company {previous.company_id}"
        )
    if current.tree_size < previous.tree_size:
        raise CheckpointError(f"the tree shrank from {previous.tree_size} to {current.tree_size} leaves")
    if current.time < previous.time:  # same fixed-width format: text order is time order
        raise CheckpointError(f"checkpoint time {current.time} is before its predecessor's {previous.time}")


def format_time(moment: datetime) -> str:
    """``2026-05-01T12:00:00.123Z``: UTC, milliseconds (the API's ``ingested_at`` form)."""
    if moment.tzinfo is None:
        raise CheckpointError("a checkpoint time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 8 bytes, hex, of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_public_key(public_key)).digest()[:8].hex()


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> SignedCheckpoint:
    """Sign with the key the checkpoint names (a mismatch is a bug: refuse it)."""
    own_id = key_id(private_key.public_key())
    if checkpoint.key_id != own_id:
        raise CheckpointError(f"checkpoint names key {checkpoint.key_id}, but the signing key is {own_id}")
    return SignedCheckpoint(checkpoint, private_key.sign(checkpoint.signed_bytes()).hex())


def verify_signature(
    signed: SignedCheckpoint, public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]
) -> None:
    """The checkpoint was signed, unaltered, by the pinned key it names. Several keys may be
    pinned (a rotation); raises :class:`SignatureError` naming what failed."""
    pinned = [public_keys] if isinstance(public_keys, Ed25519PublicKey) else list(public_keys)
    by_id = {key_id(key): key for key in pinned}
    named = signed.checkpoint.key_id
    key = by_id.get(named)
    if key is None:
        raise SignatureError(
            f"checkpoint at size {signed.checkpoint.tree_size} is signed by key {named}, "
            f"which is not pinned ({', '.join(sorted(by_id)) or 'no keys'})"
        )
    try:
        key.verify(bytes.fromhex(signed.signature), signed.checkpoint.signed_bytes())
    except InvalidSignature:
        raise SignatureError(
            f"checkpoint at size {signed.checkpoint.tree_size}: the signature does not verify under key "
            f"{named} (the checkpoint was altered, or signed by another key)"
        ) from None


def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Create a signing key: PKCS#8 PEM, mode 0600, and its public key as SubjectPublicKeyInfo
    PEM. Never overwrites: replacing a signing key silently would orphan every checkpoint
    signed so far. Returns the key id."""
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; move it away to create a new key")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(private_path, private_pem, 0o600)
    write_public_key(private_key.public_key(), public_path)
    return key_id(private_key.public_key())


def write_public_key(public_key: Ed25519PublicKey, path: Path) -> None:
    _write_new(path, public_key_pem(public_key), 0o644)


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc.strerror}") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        return public_key_from_pem(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read the public key {path}: {exc.strerror}") from exc
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"a {type(key).__name__}, not an Ed25519 public key")
    return key


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Create ``path`` whole or not at all, on disk before this returns, never replacing a file.

    The content goes to a temporary file first (mode set at creation, so a private key is never
    readable by others, not even for a moment), is fsync-ed, then linked to ``path`` — a link
    fails if ``path`` exists, so nothing that appeared meanwhile is followed or replaced. A crash
    at any point leaves either no key file or a whole one: an empty key file would refuse to
    load, and creating a new key is refused while it exists.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # exactly this mode, whatever the umask narrowed
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name itself survives a crash
    finally:
        os.close(directory)


def _require(value: object, pattern: re.Pattern[str], name: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CheckpointError(f"{name} must be {what}, not {value!r}")
