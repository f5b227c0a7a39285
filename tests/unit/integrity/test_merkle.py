"""Merkle hashing and proofs (authtrail/integrity/merkle.py): RFC 6962 hashing; the published
test vectors of transparency-dev/merkle (``rfc6962/rfc6962_test.go``, ``proof/verify_test.go``:
eight standard leaves, their roots, inclusion and consistency proofs); then, for random
trees, every proof verifies and any changed byte, index or old size makes it fail."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authtrail.integrity.errors import ProofError, RootMismatchError
from authtrail.integrity.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    hash_children,
    hash_leaf,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [hash_leaf(leaf) for leaf in LEAVES]
ROOTS = [  # ROOTS[n - 1]: the root of the first n leaves
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
INCLUSION_VECTORS = [  # (leaf index, tree size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_VECTORS = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- hashing -------------------------------------------------------------------------------


def test_rfc6962_hasher_vectors() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert hash_leaf(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert hash_leaf(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert (
        hash_children(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_a_node_is_never_the_hash_of_a_leaf_of_the_same_bytes() -> None:
    left, right = hash_leaf(b"Hello"), hash_leaf(b"World")
    assert hash_children(left, right) != hash_leaf(left + right)
    assert hash_children(left, right) != hash_children(right, left)


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_standard_leaves(size: int) -> None:
    assert root(LEAF_HASHES[:size]) == ROOTS[size - 1]


def test_the_empty_tree_has_the_empty_root() -> None:
    assert root([]) == EMPTY_ROOT


# --- the published proofs ------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors_are_generated_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAF_HASHES[:size], index) == proof
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION_VECTORS if v[2]])
def test_inclusion_vectors_fail_when_corrupted(index: int, size: int, proof: list[bytes]) -> None:
    good_root, leaf = ROOTS[size - 1], LEAF_HASHES[index]
    probes = [
        (leaf, index - 1, size, proof, good_root),
        (leaf, index + 1, size, proof, good_root),
        (leaf, index ^ 2, size, proof, good_root),
        (leaf, index, size * 2, proof, good_root),
        (leaf, index, size // 2, proof, good_root),
        (hash_leaf(b"WrongLeaf"), index, size, proof, good_root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, good_root], good_root),
        (leaf, index, size, [good_root, *proof], good_root),
        (leaf, index, size, proof[:-1], good_root),
        (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], good_root),
    ]
    for position in range(len(proof)):
        probes.append((leaf, index, size, flip_in(proof, position), good_root))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors_are_generated_and_verify(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAF_HASHES[:new], old) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_consistency_vectors_fail_when_corrupted(old: int, new: int, proof: list[bytes]) -> None:
    old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (old, new, SOME_HASH, new_root, proof),
        (old, new, old_root, SOME_HASH, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [new_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, proof[:-1]),
    ]
    for position in range(len(proof)):
        probes.append((old, new, old_root, new_root, flip_in(proof, position)))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


# --- edges ---------------------------------------------------------------------------------


def test_trivial_consistency_needs_an_empty_proof_and_the_right_roots() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert consistency_proof(LEAF_HASHES, 0) == []
    assert consistency_proof(LEAF_HASHES, 8) == []
    with pytest.raises(RootMismatchError):
        verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    with pytest.raises(RootMismatchError):
        verify_consistency(0, 5, SOME_HASH, ROOTS[4], [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [EMPTY_ROOT])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(3, 3, ROOTS[2], ROOTS[2], [EMPTY_ROOT])
    with pytest.raises(ProofError, match="cannot be a prefix"):
        verify_consistency(4, 3, ROOTS[3], ROOTS[2], [])


def test_an_index_outside_the_tree_is_refused() -> None:
    for index, size in [(0, 0), (1, 1), (2, 1), (-1, 4)]:
        with pytest.raises(ProofError, match="outside"):
            verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(LEAF_HASHES, 8)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(LEAF_HASHES, 9)


def test_hashes_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ProofError, match="leaf_hash"):
        verify_inclusion(b"short", 0, 1, [], ROOTS[0])
    with pytest.raises(ProofError, match="root"):
        verify_inclusion(ROOTS[0], 0, 1, [], b"")
    with pytest.raises(ProofError, match=r"proof\[1\]"):
        verify_inclusion(LEAF_HASHES[0], 0, 8, [ROOTS[0], b"x" * 31, ROOTS[0]], ROOTS[7])


def test_a_single_leaf_tree_is_its_leaf() -> None:
    leaf = hash_leaf(b"data")
    assert root([leaf]) == leaf
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(RootMismatchError):
        verify_inclusion(leaf, 0, 1, [], EMPTY_ROOT)


# --- properties over random trees ---------------------------------------------------------


@st.composite
def trees(draw: st.DrawFn, max_size: int = 70) -> list[bytes]:
    """Distinct leaves (a tree of equal leaves proves the same hash at several indices)."""
    size = draw(st.integers(min_value=1, max_value=max_size))
    salt = draw(st.binary(max_size=8))
    return [hash_leaf(salt + index.to_bytes(4, "big")) for index in range(size)]


@given(trees(), st.data())
def test_every_inclusion_proof_verifies_and_any_change_breaks_it(
    leaves: list[bytes], data: st.DataObject
) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, tree_root = inclusion_proof(leaves, index), root(leaves)
    verify_inclusion(leaves[index], index, size, proof, tree_root)

    byte = data.draw(st.integers(0, 31), label="byte")
    with pytest.raises(ProofError):
        verify_inclusion(flip(leaves[index], byte), index, size, proof, tree_root)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, proof, flip(tree_root, byte))
    for position in range(len(proof)):
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, flip_in(proof, position, byte), tree_root)
    for other in range(size):
        if other != index:
            with pytest.raises(ProofError):
                verify_inclusion(leaves[index], other, size, proof, tree_root)
    # The size is bound by the signed checkpoint with its root, not by the proof alone: RFC 9162
    # proofs for n and n±1 leaves can coincide. Doubling or halving always changes the shape.
    for wrong_size in (size * 2, size // 2):
        if wrong_size > index:
            with pytest.raises(ProofError):
                verify_inclusion(leaves[index], index, wrong_size, proof, tree_root)


@given(trees(), st.data())
def test_every_consistency_proof_verifies_and_any_change_breaks_it(
    leaves: list[bytes], data: st.DataObject
) -> None:
    new = len(leaves)
    old = data.draw(st.integers(1, new), label="old size")
    proof = consistency_proof(leaves, old)
    old_root, new_root = root(leaves[:old]), root(leaves)
    verify_consistency(old, new, old_root, new_root, proof)

    byte = data.draw(st.integers(0, 31), label="byte")
    with pytest.raises(ProofError):
        verify_consistency(old, new, flip(old_root, byte), new_root, proof)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, flip(new_root, byte), proof)
    for position in range(len(proof)):
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, flip_in(proof, position, byte))
    for wrong_old in (old - 1, old + 1):
        if 0 <= wrong_old <= new and wrong_old != old:
            with pytest.raises(ProofError):
                verify_consistency(wrong_old, new, old_root, new_root, proof)
    if old < new:  # history rewritten: one old leaf differs in the new tree
        changed = data.draw(st.integers(0, old - 1), label="changed leaf")
        rewritten = [*leaves[:changed], hash_leaf(b"rewritten"), *leaves[changed + 1 :]]
        with pytest.raises(RootMismatchError):
            verify_consistency(old, new, old_root, root(rewritten), consistency_proof(rewritten, old))


@given(trees(), st.data())
def test_proofs_agree_with_the_roots_of_every_prefix(leaves: list[bytes], data: st.DataObject) -> None:
    """Inclusion in a prefix, and consistency of that prefix with the whole."""
    size = data.draw(st.integers(1, len(leaves)), label="prefix")
    index = data.draw(st.integers(0, size - 1), label="index")
    verify_inclusion(leaves[index], index, size, inclusion_proof(leaves[:size], index), root(leaves[:size]))
    verify_consistency(size, len(leaves), root(leaves[:size]), root(leaves), consistency_proof(leaves, size))


def flip(value: bytes, byte: int = 0) -> bytes:
    changed = bytearray(value)
    changed[byte % len(changed)] ^= 0x10
    return bytes(changed)


def flip_in(proof: list[bytes], position: int, byte: int = 0) -> list[bytes]:
    return [flip(node, byte) if at == position else node for at, node in enumerate(proof)]
