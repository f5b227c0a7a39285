"""The checkpoint signing key's files (authtrail/integrity/signing_key.py): created once where the
settings say, private key mode 600 in a 700 directory, never replaced."""

from __future__ import annotations

import stat
from pathlib import Path

from authtrail.integrity.checkpoint import key_id, load_public_key
from authtrail.integrity.signing_key import ensure_signing_key, load_signing_key, public_key_path
from authtrail.settings import load_settings


def test_the_local_stacks_key_is_created_once_private_and_kept(tmp_path: Path) -> None:
    settings = load_settings(stack_dir=tmp_path / "stack")
    path = settings.signing_key_path
    assert path == tmp_path / "stack" / "integrity" / "checkpoint-signing.key"
    created_id, created = ensure_signing_key(settings)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key_id(load_public_key(public_key_path(path))) == created_id
    pem = path.read_bytes()
    assert ensure_signing_key(settings) == (created_id, False)
    assert path.read_bytes() == pem, "an existing key is never replaced"
    assert key_id(load_signing_key(settings).public_key()) == created_id


def test_a_configured_key_file_is_used_instead(tmp_path: Path) -> None:
    settings = load_settings(integrity_signing_key_file=tmp_path / "secrets" / "seal.key")
    _, created = ensure_signing_key(settings)
    assert created
    assert (tmp_path / "secrets" / "seal.key.pub").exists()


def test_a_public_key_lost_to_a_crash_between_the_two_files_is_derived_again(tmp_path: Path) -> None:
    settings = load_settings(stack_dir=tmp_path / "stack")
    created_id, _ = ensure_signing_key(settings)
    public_path = public_key_path(settings.signing_key_path)
    public_path.unlink()
    assert ensure_signing_key(settings) == (created_id, False)
    assert key_id(load_public_key(public_path)) == created_id
