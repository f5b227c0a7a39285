"""Merkle tree hashing for an append-only log, as Certificate Transparency defines it.

The tree is RFC 6962 §2.1 / RFC 9162 §2.1 with SHA-256, byte for byte, so any independent
CT-style verifier (transparency-dev/merkle, certificate-transparency-go, sigsum, …) agrees
with it:

* leaf hash ``SHA-256(0x00 || leaf)``; interior node ``SHA-256(0x01 || left || right)``. The
  distinct prefixes are what stop a second preimage: an interior node can never be passed off
  as a leaf, nor a leaf as a subtree;
* the root of ``n`` leaves (MTH) splits at ``k``, the largest power of two below ``n``: the
  left subtree is perfect and never changes again, which is what makes the log append-only
  and gives every tree size one root; the empty tree's root is ``SHA-256("")``;
* inclusion proofs are RFC 9162 §2.1.3.1 ``PATH`` (sibling hashes, lowest first), verified
  by the §2.1.3.2 algorithm; consistency proofs are §2.1.4.1 ``SUBPROOF``, verified by
  §2.1.4.2.

Proofs are generated from *perfect* subtree hashes only (node ``(level, index)`` covers
leaves ``[index·2^level, (index+1)·2^level)``): a right-edge subtree that is not perfect is
folded from the perfect ones covering it. A list of leaf hashes is one source of perfect
nodes; a store of the nodes :meth:`CompactRange.append` reports is another, which keeps a
proof at O(log n) node reads instead of O(n) hashing. This is the shape of
transparency-dev/merkle's ``proof.Inclusion``/``proof.Consistency`` (node ids, then a fold of
the ephemeral node), whose ``proof/verify.go`` and ``proof/verify_test.go`` also supplied the
test vectors.

:class:`CompactRange` is the incremental side: the roots of the O(log n) perfect subtrees
covering ``[0, n)`` — one per set bit of ``n``, largest first — as in Trillian's
``merkle/compact`` (now ``transparency-dev/merkle/compact/range.go``, ``Range.Append`` and
``GetRootHash``; see its ``docs/compact_ranges.md``). Appending a leaf merges it with the
trailing subtrees of equal size, exactly like incrementing a binary counter, so a sealing
service can extend a log of any size, and persist its whole state, in O(log n) hashes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict

from authtrail.integrity.errors import CompactRangeError, ProofError, RootMismatchError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def hash_leaf(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``: the hash a leaf enters the tree with."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves, straight from the recursive definition (the reference the compact
    range and the proofs are tested against)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


class PerfectNodes(Protocol):
    """Where proofs read hashes from: the perfect subtree ``(level, index)``."""

    def node_hash(self, level: int, index: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class NodeHash:
    """A perfect subtree's root: it covers leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int
    digest: bytes


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 ``PATH(index, D[n])`` over all the leaves (O(n) hashing)."""
    return inclusion_proof_from(_LeafHashes(leaf_hashes), index, len(leaf_hashes))


def inclusion_proof_from(nodes: PerfectNodes, index: int, tree_size: int) -> list[bytes]:
    """``PATH(index, D[tree_size])`` from perfect subtree hashes (O(log n) node reads)."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")
    proof: list[bytes] = []
    _path(nodes, index, 0, tree_size, proof)
    return proof


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 9162 ``PROOF(old_size, D[n])`` over all the leaves (O(n) hashing)."""
    return consistency_proof_from(_LeafHashes(leaf_hashes), old_size, len(leaf_hashes))


def consistency_proof_from(nodes: PerfectNodes, old_size: int, new_size: int) -> list[bytes]:
    """``PROOF(old_size, D[new_size])``; empty when either tree is trivially a prefix (an empty
    old tree, or equal sizes)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[bytes] = []
    if 0 < old_size < new_size:
        _subproof(nodes, old_size, 0, new_size, True, proof)
    return proof


def inclusion_nodes(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The perfect nodes ``(level, index)`` :func:`inclusion_proof_from` reads for this proof, so
    a store can fetch them all at once (the proof's shape depends on the sizes, not the hashes)."""
    recorder = _NodeRecorder()
    inclusion_proof_from(recorder, index, tree_size)
    return recorder.wanted


def consistency_nodes(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The perfect nodes :func:`consistency_proof_from` reads for this proof."""
    recorder = _NodeRecorder()
    consistency_proof_from(recorder, old_size, new_size)
    return recorder.wanted


class FetchedNodes:
    """Perfect nodes fetched beforehand (see :func:`inclusion_nodes`); a missing one is a
    :class:`LookupError`."""

    def __init__(self, hashes: Mapping[tuple[int, int], bytes]) -> None:
        self.hashes = hashes

    def node_hash(self, level: int, index: int) -> bytes:
        try:
            return self.hashes[(level, index)]
        except KeyError:
            raise LookupError(f"node ({level}, {index}) was not fetched") from None


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: the leaf is at ``index`` in the tree of ``tree_size`` with ``root``.

    Raises :class:`ProofError` for a malformed proof (wrong length, index outside the tree)
    and :class:`RootMismatchError` when the proof leads elsewhere.
    """
    _check_hashes(leaf_hash=leaf_hash, root=root, proof=proof)
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    fn, sn = index, tree_size - 1
    calculated = leaf_hash
    for sibling in proof:
        if sn == 0:
            raise ProofError(f"the proof has more hashes than leaf {index} of a tree of {tree_size} needs")
        if fn & 1 or fn == sn:
            calculated = hash_children(sibling, calculated)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            calculated = hash_children(calculated, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"the proof has fewer hashes than leaf {index} of a tree of {tree_size} needs")
    if calculated != root:
        raise RootMismatchError(f"leaf {index} in the tree of size {tree_size}", root, calculated)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``old_size`` is a prefix of the tree of ``new_size``.

    Equal sizes need an empty proof and equal roots; from the empty tree, an empty proof and
    the empty root. Raises :class:`ProofError` / :class:`RootMismatchError`.
    """
    _check_hashes(old_root=old_root, new_root=new_root, proof=proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {old_size} cannot be a prefix of one of size {new_size}")
    if old_size in (0, new_size):
        if proof:
            raise ProofError(f"a proof from size {old_size} to {new_size} must be empty")
        expected_old = EMPTY_ROOT if old_size == 0 else new_root
        if old_root != expected_old:
            raise RootMismatchError(f"the tree of size {old_size}", expected_old, old_root)
        return
    if not proof:
        raise ProofError(f"an empty proof cannot show size {old_size} is a prefix of size {new_size}")
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_calculated = new_calculated = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError(f"the proof has more hashes than sizes {old_size} → {new_size} need")
        if fn & 1 or fn == sn:
            old_calculated = hash_children(node, old_calculated)
            new_calculated = hash_children(node, new_calculated)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_calculated = hash_children(new_calculated, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"the proof has fewer hashes than sizes {old_size} → {new_size} need")
    if old_calculated != old_root:
        raise RootMismatchError(f"the old tree of size {old_size}", old_root, old_calculated)
    if new_calculated != new_root:
        raise RootMismatchError(f"the new tree of size {new_size}", new_root, new_calculated)


class CompactRangeState(TypedDict):
    """A compact range as the store keeps it: ``size`` and its subtree roots in hex."""

    size: int
    hashes: list[str]


class CompactRange:
    """The right frontier of a growing tree: the roots of the perfect subtrees covering
    ``[0, size)``, largest (leftmost) first — one per set bit of ``size``.

    It holds no leaves, yet gives the root of the current tree and extends it, each in
    O(log n) hashes; :meth:`to_state` / :meth:`from_state` let it survive a restart.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[NodeHash]:
        """Add one leaf; return the perfect nodes this completed, lowest first: the leaf
        itself (level 0), then each subtree it closed. A store that keeps them can serve
        proofs with :func:`inclusion_proof_from` / :func:`consistency_proof_from`."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise CompactRangeError(f"a leaf hash must be {HASH_SIZE} bytes")
        index = self._size
        completed = [NodeHash(0, index, leaf_hash)]
        merged, level = leaf_hash, 0
        # Like a binary increment: every trailing 1 bit of the size is a subtree of the same
        # size as the one being carried, so the two merge and the carry moves up a level.
        while (self._size >> level) & 1:
            merged = hash_children(self._hashes.pop(), merged)
            level += 1
            completed.append(NodeHash(level, index >> level, merged))
        self._hashes.append(merged)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf_hash in leaf_hashes:
            self.append(leaf_hash)

    def root(self) -> bytes:
        """MTH of the leaves appended so far: fold the subtree roots from the right."""
        if not self._hashes:
            return EMPTY_ROOT
        calculated = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            calculated = hash_children(left, calculated)
        return calculated

    def to_state(self) -> CompactRangeState:
        return {"size": self._size, "hashes": [node.hex() for node in self._hashes]}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> CompactRange:
        """Rebuild from :meth:`to_state`; refuses a state whose hash count does not match its
        size (a truncated or corrupted record would otherwise yield wrong roots silently)."""
        size, hashes = state.get("size"), state.get("hashes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise CompactRangeError(f"size must be a non-negative integer, not {size!r}")
        if not isinstance(hashes, list) or not all(
            isinstance(h, str) and _HEX_HASH.fullmatch(h) for h in hashes
        ):
            raise CompactRangeError("hashes must be a list of lowercase hex SHA-256 digests")
        if len(hashes) != size.bit_count():
            raise CompactRangeError(
                f"a range of size {size} needs {size.bit_count()} hashes, not {len(hashes)}"
            )
        restored = cls()
        restored._size = size
        restored._hashes = [bytes.fromhex(h) for h in hashes]
        return restored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return (self._size, self._hashes) == (other._size, other._hashes)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


class _NodeRecorder:
    def __init__(self) -> None:
        self.wanted: list[tuple[int, int]] = []

    def node_hash(self, level: int, index: int) -> bytes:
        self.wanted.append((level, index))
        return bytes(HASH_SIZE)


class _LeafHashes:
    """Perfect nodes computed from the full list of leaf hashes."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = leaf_hashes

    def node_hash(self, level: int, index: int) -> bytes:
        return _mth(self._leaves, index << level, (index + 1) << level)


def _mth(leaves: Sequence[bytes], begin: int, end: int) -> bytes:
    if end - begin == 1:
        return leaves[begin]
    middle = begin + _split(end - begin)
    return hash_children(_mth(leaves, begin, middle), _mth(leaves, middle, end))


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _path(nodes: PerfectNodes, index: int, begin: int, end: int, proof: list[bytes]) -> None:
    if end - begin == 1:
        return
    middle = begin + _split(end - begin)
    if index < middle:
        _path(nodes, index, begin, middle, proof)
        proof.append(_subtree_root(nodes, middle, end))
    else:
        _path(nodes, index, middle, end, proof)
        proof.append(_subtree_root(nodes, begin, middle))


def _subproof(
    nodes: PerfectNodes, old_size: int, begin: int, end: int, whole: bool, proof: list[bytes]
) -> None:
    if old_size == end:
        if not whole:
            proof.append(_subtree_root(nodes, begin, end))
        return
    middle = begin + _split(end - begin)
    if old_size <= middle:
        _subproof(nodes, old_size, begin, middle, whole, proof)
        proof.append(_subtree_root(nodes, middle, end))
    else:
        _subproof(nodes, old_size, middle, end, False, proof)
        proof.append(_subtree_root(nodes, begin, middle))


def _subtree_root(nodes: PerfectNodes, begin: int, end: int) -> bytes:
    """MTH of leaves ``[begin, end)``, a subtree of the tree: the perfect subtrees covering it,
    largest first, folded from the right (the one non-perfect node a proof may need)."""
    covering: list[bytes] = []
    position, remaining = begin, end - begin
    for level in range(remaining.bit_length() - 1, -1, -1):
        if (remaining >> level) & 1:
            covering.append(nodes.node_hash(level, position >> level))
            position += 1 << level
    calculated = covering[-1]
    for left in reversed(covering[:-1]):
        calculated = hash_children(left, calculated)
    return calculated


def _check_hashes(proof: Sequence[bytes] = (), **named: bytes) -> None:
    for name, value in named.items():
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"{name} must be {HASH_SIZE} bytes")
    for position, node in enumerate(proof):
        if not isinstance(node, bytes) or len(node) != HASH_SIZE:
            raise ProofError(f"proof[{position}] must be {HASH_SIZE} bytes")
