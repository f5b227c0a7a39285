"""The checkpoint signing key's files: where settings put them, created once for the local stack.

The private key is PKCS#8 PEM, mode 600 (:func:`authtrail.integrity.checkpoint.generate_key_pair`);
the public key sits next to it with ``.pub``. Neither the key nor its path's contents are ever
logged — only the key id, which is public.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.integrity.checkpoint import generate_key_pair, key_id, load_private_key, write_public_key
from authtrail.settings import Settings


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def ensure_signing_key(settings: Settings) -> tuple[str, bool]:
    """Make sure the configured signing key exists (creating it in a 700 directory if not);
    returns its key id and whether it was created now. An existing key is never replaced; its
    public key file is written again if missing."""
    path = settings.signing_key_path
    if path.exists():
        public_key = load_private_key(path).public_key()
        if not public_key_path(path).exists():  # a crash between the two files: derive it again
            write_public_key(public_key, public_key_path(path))
        return key_id(public_key), False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return generate_key_pair(path, public_key_path(path)), True


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    return load_private_key(settings.signing_key_path)
