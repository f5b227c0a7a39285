"""Signed checkpoints (authtrail/integrity/checkpoint.py): pinned signed bytes and signature
(Ed25519 is deterministic), reproducible without project code; a signature fails under any
other key and after any altered field; the chain names its predecessor; key files."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.integrity.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    check_follows,
    format_time,
    generate_key_pair,
    key_id,
    load_private_key,
    load_public_key,
    new_checkpoint,
    public_key_from_pem,
    public_key_pem,
    raw_public_key,
    sign,
    verify_signature,
)
from authtrail.integrity.errors import CheckpointError, KeyFileError, SignatureError
from authtrail.integrity.merkle import EMPTY_ROOT

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEY_ID = key_id(KEY.public_key())
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
NOW = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
CHECKPOINT = Checkpoint(
    company_id=42,
    tree_size=8,
    root_hash=ROOT.hex(),
    time="2026-05-01T12:00:00.123Z",
    previous="ab" * 32,
    key_id=KEY_ID,
)
GOLDEN_SIGNED_BYTES = (
    b"authtrail-checkpoint/v1\n"
    b'{"company_id":42,"key_id":"' + KEY_ID.encode() + b'","previous":"' + b"ab" * 32 + b'",'
    b'"root_hash":"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",'
    b'"time":"2026-05-01T12:00:00.123Z","tree_size":8}'
)


def test_key_id_is_the_first_8_bytes_of_the_raw_public_keys_sha256() -> None:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw_public_key(KEY.public_key()) == raw
    assert hashlib.sha256(raw).hexdigest()[:16] == KEY_ID
    assert KEY_ID == "56475aa75463474c"


def test_the_signed_bytes_are_pinned() -> None:
    assert CHECKPOINT.signed_bytes() == GOLDEN_SIGNED_BYTES
    assert CHECKPOINT.digest() == hashlib.sha256(GOLDEN_SIGNED_BYTES).hexdigest()


def test_the_signature_is_pinned_and_verifies_without_project_code() -> None:
    signed = sign(CHECKPOINT, KEY)
    assert signed.signature == KEY.sign(GOLDEN_SIGNED_BYTES).hex()  # Ed25519 is deterministic
    served = json.loads(json.dumps(signed.to_dict()))
    body = {name: value for name, value in served.items() if name != "signature"}
    message = b"authtrail-checkpoint/v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    KEY.public_key().verify(bytes.fromhex(served["signature"]), message)  # raises if not


def test_a_signed_checkpoint_round_trips_through_the_apis_json() -> None:
    signed = sign(CHECKPOINT, KEY)
    again = SignedCheckpoint.from_dict(json.loads(json.dumps(signed.to_dict())))
    assert again == signed
    verify_signature(again, KEY.public_key())


def test_a_signature_fails_under_another_key() -> None:
    signed = sign(CHECKPOINT, KEY)
    with pytest.raises(SignatureError, match=f"signed by key {KEY_ID}, which is not pinned"):
        verify_signature(signed, OTHER_KEY.public_key())
    # The same checkpoint signed by another key that names itself: still not the pinned key.
    forged = sign(dataclasses.replace(CHECKPOINT, key_id=key_id(OTHER_KEY.public_key())), OTHER_KEY)
    with pytest.raises(SignatureError, match="not pinned"):
        verify_signature(forged, KEY.public_key())
    # Another key's signature under the pinned key's id.
    impostor = SignedCheckpoint(CHECKPOINT, OTHER_KEY.sign(CHECKPOINT.signed_bytes()).hex())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(impostor, KEY.public_key())


ALTERED: dict[str, Any] = {
    "company_id": 43,
    "tree_size": 9,
    "root_hash": EMPTY_ROOT.hex(),
    "time": "2026-05-01T12:00:00.124Z",
    "previous": None,
    "key_id": key_id(OTHER_KEY.public_key()),
}


@pytest.mark.parametrize("field", sorted(ALTERED))
def test_any_altered_field_breaks_the_signature(field: str) -> None:
    signed = sign(CHECKPOINT, KEY)
    altered = SignedCheckpoint(dataclasses.replace(CHECKPOINT, **{field: ALTERED[field]}), signed.signature)
    with pytest.raises(SignatureError):
        verify_signature(altered, [KEY.public_key(), OTHER_KEY.public_key()])


@pytest.mark.parametrize("position", [0, 63, 127])
def test_an_altered_signature_fails(position: int) -> None:
    signature = sign(CHECKPOINT, KEY).signature
    flipped = signature[:position] + ("0" if signature[position] != "0" else "1") + signature[position + 1 :]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(SignedCheckpoint(CHECKPOINT, flipped), KEY.public_key())


def test_after_a_rotation_both_pinned_keys_verify_their_checkpoints() -> None:
    new_one = sign(dataclasses.replace(CHECKPOINT, key_id=key_id(OTHER_KEY.public_key())), OTHER_KEY)
    pinned = [KEY.public_key(), OTHER_KEY.public_key()]
    verify_signature(sign(CHECKPOINT, KEY), pinned)
    verify_signature(new_one, pinned)
    with pytest.raises(SignatureError, match="no keys"):
        verify_signature(new_one, [])


def test_signing_with_a_key_the_checkpoint_does_not_name_is_refused() -> None:
    with pytest.raises(CheckpointError, match="signing key is"):
        sign(CHECKPOINT, OTHER_KEY)


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("company_id", -1, "company_id"),
        ("company_id", True, "company_id"),
        ("company_id", "42", "company_id"),
        ("tree_size", 2**63, "tree_size"),
        ("root_hash", ROOT.hex().upper(), "root_hash"),
        ("root_hash", ROOT.hex()[:-1], "root_hash"),
        ("previous", "", "previous"),
        ("key_id", KEY_ID[:-1], "key_id"),
        ("time", "2026-05-01T12:00:00Z", "time"),
        ("time", "2026-05-01T12:00:00.123+00:00", "time"),
        ("time", "2026-02-30T12:00:00.123Z", "not a real date"),
    ],
)
def test_a_malformed_checkpoint_cannot_be_made(field: str, value: Any, complaint: str) -> None:
    with pytest.raises(CheckpointError, match=complaint):
        dataclasses.replace(CHECKPOINT, **{field: value})


def test_a_served_checkpoint_must_have_exactly_the_signed_fields() -> None:
    signed = sign(CHECKPOINT, KEY).to_dict()
    with pytest.raises(CheckpointError, match="fields"):
        SignedCheckpoint.from_dict({**signed, "note": "unsigned"})
    with pytest.raises(CheckpointError, match="fields"):
        SignedCheckpoint.from_dict({k: v for k, v in signed.items() if k != "previous"})
    with pytest.raises(CheckpointError, match="signature"):
        SignedCheckpoint.from_dict({k: v for k, v in signed.items() if k != "signature"})
    with pytest.raises(CheckpointError, match="signature"):
        SignedCheckpoint.from_dict({**signed, "signature": "zz"})


# --- the chain -----------------------------------------------------------------------------


def chain(length: int) -> list[Checkpoint]:
    made: list[Checkpoint] = []
    for step in range(length):
        previous = made[-1] if made else None
        made.append(new_checkpoint(42, step * 3, ROOT, NOW + timedelta(minutes=step), previous, KEY_ID))
    return made


def test_a_chain_names_each_predecessor() -> None:
    first, second, third = chain(3)
    assert first.previous is None
    assert second.previous == first.digest()
    assert third.previous == second.digest()
    assert first.time == "2026-05-01T12:00:00.123Z"
    check_follows(None, first)
    check_follows(first, second)


def test_a_broken_chain_is_named() -> None:
    first, second, third = chain(3)
    with pytest.raises(CheckpointError, match="does not name the one at size 0"):  # one left out
        check_follows(first, third)
    replaced = dataclasses.replace(first, root_hash=EMPTY_ROOT.hex())
    with pytest.raises(CheckpointError, match="does not name"):  # an old checkpoint replaced
        check_follows(replaced, second)
    with pytest.raises(CheckpointError, match="predecessor that is missing"):
        check_follows(None, second)
    shrunk = dataclasses.replace(second, tree_size=0, previous=second.digest())
    with pytest.raises(CheckpointError, match="shrank from 3 to 0"):
        check_follows(second, shrunk)
    earlier = dataclasses.replace(second, time="2026-05-01T11:00:00.000Z", previous=second.digest())
    with pytest.raises(CheckpointError, match="before its predecessor"):
        check_follows(second, earlier)
    foreign = dataclasses.replace(second, company_id=7, previous=second.digest())
    with pytest.raises(CheckpointError, match="company 7 follows a checkpoint of company 42"):
        check_follows(second, foreign)


def test_time_is_utc_with_milliseconds() -> None:
    assert format_time(datetime(2026, 5, 1, 14, 0, 0, 999999, tzinfo=UTC) + timedelta(hours=0)) == (
        "2026-05-01T14:00:00.999Z"
    )
    with pytest.raises(CheckpointError, match="timezone-aware"):
        format_time(datetime(2026, 5, 1))


# --- key files -----------------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_key_pair_is_written_private_0600_and_loads_back(tmp_path: Path) -> None:
    private_path, public_path = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    made_id = generate_key_pair(private_path, public_path)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    private_key, public_key = load_private_key(private_path), load_public_key(public_path)
    assert key_id(public_key) == key_id(private_key.public_key()) == made_id
    checkpoint = dataclasses.replace(CHECKPOINT, key_id=made_id)
    verify_signature(sign(checkpoint, private_key), public_key)


def test_a_key_file_is_created_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    # A crash after the file was created and before its bytes were written would leave an empty
    # key: it does not load, and a new key is refused while it exists.
    private_path, public_path = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"

    def crash(*_: object) -> None:
        raise OSError(errno.EIO, "simulated crash mid-write")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fchmod", crash)
        with pytest.raises(KeyFileError, match="mid-write"):
            generate_key_pair(private_path, public_path)
    assert list(tmp_path.iterdir()) == []  # no key file, no temporary file
    made_id = generate_key_pair(private_path, public_path)
    assert key_id(load_private_key(private_path).public_key()) == made_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.pem", "signing.pub.pem"]


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    private_path, public_path = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    generate_key_pair(private_path, public_path)
    before = private_path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_pair(private_path, tmp_path / "other.pub.pem")
    assert private_path.read_bytes() == before
    assert not (tmp_path / "other.pub.pem").exists()


def test_unusable_key_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_public_key(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        load_private_key(garbage)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(garbage)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_private = tmp_path / "ec.pem"
    ec_private.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        load_private_key(ec_private)
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        public_key_from_pem(ec_public)


def test_the_public_key_pem_round_trips() -> None:
    pem = public_key_pem(KEY.public_key())
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert key_id(public_key_from_pem(pem)) == KEY_ID
