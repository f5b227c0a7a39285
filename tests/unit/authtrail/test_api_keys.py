"""API keys (authtrail/api_keys.py): ``at_<key id>_<secret>``; only the secret's SHA-256 is
stored; a key is good when its record exists, is not revoked and the secret hashes to it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from authtrail.api_keys import NewKey, Principal, new_key, parse_key, verify

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def parts(created: NewKey) -> tuple[str, str]:
    """(key id, secret) of the key shown to its owner."""
    parsed = parse_key(created.secret_key)
    assert parsed is not None
    return parsed


def test_a_new_key_round_trips_to_its_principal() -> None:
    created = new_key(company_id=7, name="billing export", now=NOW)
    key_id, secret = parts(created)
    assert key_id == created.key_id
    assert verify(created.record, secret) == Principal(key_id=key_id, name="billing export", company_id=7)


def test_an_operator_key_has_no_company() -> None:
    created = new_key(company_id=None, name="ops", now=NOW)
    principal = verify(created.record, parts(created)[1])
    assert principal is not None
    assert (principal.company_id, principal.scope) == (None, "operator")
    assert Principal("k", "n", 7).scope == "company:7"


def test_the_record_keeps_the_secrets_hash_never_the_secret() -> None:
    created = new_key(company_id=7, name="k", now=NOW)
    _, secret = parts(created)
    assert created.record == {
        "_id": created.key_id,
        "name": "k",
        "company_id": 7,
        "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "created_at": NOW,
        "revoked_at": None,
    }


def test_keys_are_not_repeated() -> None:
    keys = [new_key(company_id=7, name="k", now=NOW) for _ in range(50)]
    assert len({k.key_id for k in keys}) == len({k.secret_key for k in keys}) == 50


def test_a_wrong_secret_is_refused() -> None:
    created = new_key(company_id=7, name="k", now=NOW)
    _, secret = parts(created)
    wrong = ("A" if secret[0] != "A" else "B") + secret[1:]  # one character off
    assert verify(created.record, wrong) is None
    assert verify(created.record, "") is None


def test_a_revoked_key_is_refused_even_with_the_right_secret() -> None:
    created = new_key(company_id=7, name="k", now=NOW)
    _, secret = parts(created)
    assert verify({**created.record, "revoked_at": NOW}, secret) is None


def test_an_unknown_key_id_is_refused() -> None:
    assert verify(None, "whatever") is None


GOOD = "at_0123456789ab_" + "A" * 43


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "at_0123456789ab",  # no secret
        "xx_0123456789ab_" + "A" * 43,  # another prefix
        "at_0123456789AB_" + "A" * 43,  # the id is lower-case hex
        "at_0123456789a_" + "A" * 43,  # the id is 12 characters
        "at_0123456789ab_" + "A" * 42,  # the secret is 43 characters
        "at_0123456789ab_" + "A" * 44,
        "at_0123456789ab_" + "A" * 42 + "=",  # base64url without padding
        GOOD + "\n",
        " " + GOOD,
        "Bearer " + GOOD,
    ],
)
def test_a_malformed_key_does_not_parse(presented: str) -> None:
    assert parse_key(presented) is None


def test_a_well_formed_key_parses_into_id_and_secret() -> None:
    assert parse_key(GOOD) == ("0123456789ab", "A" * 43)
    assert parse_key("at_0123456789ab_" + "-_" * 21 + "z") == ("0123456789ab", "-_" * 21 + "z")


@pytest.mark.parametrize("secret", ["_" + "A" * 42, "A" * 20 + "__" + "B" * 21, "-" * 43])
def test_a_secret_may_start_with_or_hold_the_separator(secret: str) -> None:
    # token_urlsafe draws from A-Z a-z 0-9 - _, so about one key in 64 starts with "_":
    # splitting a key on "_" is wrong; its grammar is the only way to take it apart
    assert parse_key(f"at_0123456789ab_{secret}") == ("0123456789ab", secret)
