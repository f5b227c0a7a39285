"""An independent verifier for authtrail's tamper-evidence format.

Written from ``docs/integrity.md`` alone (sections "Verifying a company's log", "The API" and
"Formats"), it deliberately imports nothing from the project — only the standard library and
``cryptography`` — so that tests comparing it with ``authtrail verify`` catch places where the
implementation and the documentation disagree, instead of sharing the implementation's bugs.

Canonical JSON is RFC 8785 (JCS) with the documented exception that integers are written
exactly in plain decimal; floats follow ECMAScript ``Number::toString`` (so ``1.0`` is ``1``,
``1e-7`` is ``1e-7``). NaN / infinities and strings that are not valid Unicode are rejected.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

LEAF_FIELDS = (
    "id",
    "timestamp",
    "user_id",
    "company_id",
    "event_type",
    "event_resource_type",
    "resource_id",
    "event_data",
    "ingested_at",
    "content_sha256",
)
CHECKPOINT_FIELDS = ("company_id", "tree_size", "root_hash", "time", "previous", "key_id")
CHECKPOINT_PREFIX = b"authtrail-checkpoint/v1\n"
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- canonical JSON (RFC 8785)


def _number(x: float) -> str:
    """ECMAScript Number::toString for a finite double (shortest round-trip digits)."""
    if not math.isfinite(x):
        raise ValueError("NaN and infinities have no JSON form")
    if x == 0:
        return "0"  # also -0
    _, digits, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    assert isinstance(exp, int)  # a finite number
    s = "".join(map(str, digits))
    k, n = len(s), exp + len(s)  # value = 0.s × 10^n
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + s
    else:
        e = n - 1
        out = (s if k == 1 else s[0] + "." + s[1:]) + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return ("-" if x < 0 else "") + out


def _string(s: str) -> str:
    s.encode("utf-8")  # lone surrogates are not valid I-JSON
    return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in s) + '"'


def canonical_json(value) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # exact, plain decimal (the doc's exception)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("object keys must be strings")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(_string(k) + ":" + canonical_json(value[k]) for k in keys) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str):
    """JSON with exact integers (Python's default) and without NaN / Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


# ---------------------------------------------------------------- leaves and the tree


def leaf_bytes(event: dict) -> bytes:
    """Canonical JSON of the ten documented members (KeyError if one is absent)."""
    return canonical_json({name: event[name] for name in LEAF_FIELDS}).encode("utf-8")


def leaf_hash(event: dict) -> bytes:
    return _sha256(b"\x00" + leaf_bytes(event))


def _node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right)


def merkle_root(leaf_hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed leaves, from the recursive definition."""
    n = len(leaf_hashes)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    return _node(merkle_root(leaf_hashes[:k]), merkle_root(leaf_hashes[k:]))


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < tree_size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 for 0 < old < new; equal sizes need an empty proof and equal roots,
    size 0 an empty proof (everything extends the empty tree)."""
    if not 0 <= old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


# ---------------------------------------------------------------- checkpoints


def checkpoint_signed_bytes(checkpoint: dict) -> bytes:
    return CHECKPOINT_PREFIX + canonical_json({f: checkpoint[f] for f in CHECKPOINT_FIELDS}).encode()


def checkpoint_digest(checkpoint: dict) -> str:
    """What the next checkpoint's ``previous`` names."""
    return hashlib.sha256(checkpoint_signed_bytes(checkpoint)).hexdigest()


def _raw_public_key(public_key_pem: bytes) -> Ed25519PublicKey:
    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the pinned key is not Ed25519")
    return key


def key_id(public_key_pem: bytes) -> str:
    raw = _raw_public_key(public_key_pem).public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def checkpoint_signature_ok(checkpoint: dict, public_key_pem: bytes) -> bool:
    """The Ed25519 signature (hex) verifies over the signed bytes under the pinned key."""
    try:
        signature = bytes.fromhex(checkpoint["signature"])
        _raw_public_key(public_key_pem).verify(signature, checkpoint_signed_bytes(checkpoint))
        return True
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False


def _time(value: str) -> datetime:
    """ISO 8601; a time without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- a saved evidence bundle


@dataclass
class Verdict:
    changed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    unsealed: set[str] = field(default_factory=set)
    bad_checkpoints: set[int] = field(default_factory=set)
    truncated: bool = False
    pending: set[str] = field(default_factory=set)  # informational: not a failure

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.unsealed or self.bad_checkpoints or self.truncated)


def _ndjson(path: pathlib.Path) -> list[dict]:
    # split on "\n" only: str.splitlines() would also split inside strings at U+2028, U+0085...
    return [parse_json(line) for line in path.read_text("utf-8").split("\n") if line.strip()]


def verify_bundle(directory: pathlib.Path, public_key_pem: bytes, grace_minutes: float = 5) -> Verdict:
    """Apply the doc's checks (all but ``--state``) to checkpoints.json / leaves.ndjson /
    events.ndjson. Raises (OSError, ValueError, ...) when the bundle cannot be read.

    Assumes what the doc implies: ``checkpoints.json`` holds the API's pages, newest first;
    ``leaves.ndjson`` holds ``{index, event_id, leaf_hash}`` lines in index order from 0 (a line
    whose index is not its position ends the usable leaves). "Latest checkpoint" is the newest
    one that passed its own checks; only leaves below its size count as sealed."""
    directory = pathlib.Path(directory)
    checkpoints = list(reversed(parse_json((directory / "checkpoints.json").read_text("utf-8"))["data"]))
    leaves = _ndjson(directory / "leaves.ndjson")
    events = _ndjson(directory / "events.ndjson")
    verdict, pinned_id = Verdict(), key_id(public_key_pem)

    # Signatures, and the chain (checkpoints arrive newest first; walk them oldest first).
    trusted, before = [], None
    for cp in checkpoints:
        size = cp.get("tree_size")
        try:
            good = checkpoint_signature_ok(cp, public_key_pem) and cp["key_id"] == pinned_id
            if before is None:
                good = good and cp["previous"] is None
            else:
                good = (
                    good
                    and cp["previous"] == checkpoint_digest(before)
                    and cp["tree_size"] >= before["tree_size"]
                    and _time(cp["time"]) >= _time(before["time"])
                )
        except (KeyError, TypeError, ValueError):
            good = False
        if good:
            trusted.append(cp)
        else:
            verdict.bad_checkpoints.add(size)
        before = cp

    # The leaves, folded in order, must reproduce every checkpoint's root.
    usable = 0  # leading lines whose index is their position
    while usable < len(leaves) and leaves[usable].get("index") == usable:
        usable += 1
    hashes = [bytes.fromhex(leaf["leaf_hash"]) for leaf in leaves[:usable]]
    for cp in checkpoints:
        size = cp.get("tree_size")
        try:
            if size > usable or merkle_root(hashes[:size]) != bytes.fromhex(cp["root_hash"]):
                verdict.bad_checkpoints.add(size)
        except (KeyError, TypeError, ValueError):
            verdict.bad_checkpoints.add(size)
    if not trusted:
        return verdict
    latest = trusted[-1]
    verdict.truncated = len(leaves) < latest["tree_size"]

    # Events against the sealed leaves.
    store: dict[str, list[dict]] = {}
    for event in events:
        store.setdefault(str(event.get("id")), []).append(event)
    sealed = leaves[: latest["tree_size"]]
    for leaf in sealed:
        found = store.get(leaf["event_id"])
        if not found:
            verdict.missing.add(leaf["event_id"])
            continue
        for event in found:
            try:
                same = leaf_hash(event) == bytes.fromhex(leaf["leaf_hash"])
            except (KeyError, TypeError, ValueError):
                same = False
            if not same:
                verdict.changed.add(leaf["event_id"])
    in_leaves = {leaf["event_id"] for leaf in sealed}
    cutoff = _time(latest["time"]) - timedelta(minutes=grace_minutes)
    for event_id, found in store.items():
        if event_id in in_leaves:
            continue
        try:
            late = all(_time(e["ingested_at"]) >= cutoff for e in found)
        except (KeyError, TypeError, ValueError):
            late = False
        (verdict.pending if late else verdict.unsealed).add(event_id)
    return verdict
