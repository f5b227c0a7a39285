"""Tamper evidence on the real stack, attacked the way an insider would: events produced through
the pipeline by an independent producer are sealed and checkpointed; then, with pymongo straight
on the store, one thing at a time is changed — an event's content, an event deleted, an event
inserted that never came through the pipeline, an old checkpoint replaced, a checkpoint signed
by another key, the log's leaves, history truncated — and `authtrail verify` (live, with only a
company key and the pinned public key) must fail naming it, and pass once it is put back. A
verifier written from docs/integrity.md alone (tests/support/independent_verifier.py) agrees.
A company key reads no other company's checkpoints, leaves or proofs."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson.int64 import Int64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo.database import Database

import tests.support.independent_verifier as independent_verifier
from authtrail.integrity.checkpoint import SignedCheckpoint, key_id, sign
from authtrail.integrity.seal_store import CHECKPOINTS, LEAVES, signed_checkpoint
from authtrail.integrity.signing_key import public_key_path
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline
from tests.integration.test_sealing import wait_checkpointed, wait_sealed
from tests.support.faults import Stream

pytestmark = [pytest.mark.stack]
API_PORT = 14600


@dataclasses.dataclass
class SealedLog:
    pipe: IsolatedPipeline
    company: int
    other_company: int
    key: str
    workdir: Path

    @property
    def database(self) -> Database[dict[str, Any]]:
        return self.pipe.mongo[self.pipe.settings.mongo_database]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{API_PORT}"

    def get(self, path: str, params: dict[str, Any] | None = None, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.get(f"{self.api}{path}", params=params, headers=headers, timeout=30)

    def verify(self, *args: str) -> tuple[int, str]:
        """`authtrail verify --company <company>` as the company would run it."""
        done = self.pipe.cli("verify", "--company", str(self.company), *args, api_key=self.key)
        return done.returncode, done.stdout + done.stderr

    def bundle(self) -> Path:
        """What the API serves now, saved as an evidence bundle."""
        directory = self.workdir / f"bundle-{uuid.uuid4().hex[:6]}"
        self.verify("--save", str(directory))
        return directory

    @property
    def public_key_pem(self) -> bytes:
        return public_key_path(self.pipe.settings.signing_key_path).read_bytes()


@pytest.fixture(scope="module")
def sealed(
    stack: LocalStack, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SealedLog]:
    workdir = tmp_path_factory.mktemp("tamper")
    with isolated_pipeline(
        settings,
        uuid.uuid4().hex[:10],
        workdir,
        api_port=API_PORT,
        integrity_checkpoint_interval_s=1.0,
    ) as pipe:
        for service in ("transformer", "sink-watch", "sealer", "api"):
            pipe.start(service)
        # Three waves, so each company's log has several checkpoints to chain and prove.
        events: list[dict[str, Any]] = []
        for wave in range(3):
            stream = Stream(pipe, 400, 2_000, seed=160 + wave, users=8).start()
            stream.join()
            events += stream.events
            wait_sealed(pipe, len(events))
            wait_checkpointed(pipe, len(events))
        pipe.stop("sealer")  # the log stays as it is while it is attacked
        (company, _), (other, _) = Counter(e["company_id"] for e in events).most_common(2)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{API_PORT}/health"), 30, "the API")
        yield SealedLog(pipe, company, other, pipe.key(company), workdir)


def test_an_untouched_log_verifies_live_offline_and_independently(sealed: SealedLog) -> None:
    code, output = sealed.verify("--save", str(sealed.workdir / "clean"))
    assert code == 0, output
    assert "everything holds" in output
    code, output = sealed.pipe.cli("verify", "--offline", str(sealed.workdir / "clean")).returncode, ""
    assert code == 0
    verdict = independent_verifier.verify_bundle(sealed.workdir / "clean", sealed.public_key_pem)
    assert verdict.ok, verdict
    history = sealed.get("/checkpoints").json()["data"]
    assert len(history) >= 3
    assert {c["company_id"] for c in history} == {sealed.company}


def test_a_served_inclusion_proof_and_consistency_proof_check_out_independently(sealed: SealedLog) -> None:
    events = [
        json.loads(line) for line in (sealed.workdir / "clean" / "events.ndjson").read_text().splitlines()
    ]
    history = sealed.get("/checkpoints").json()["data"]
    oldest, latest = history[-1], history[0]
    for event in (events[0], events[len(events) // 2], events[-1]):
        proof = sealed.get(f"/audit_events/{event['id']}/proof").json()
        checkpoint = proof["checkpoint"]
        assert checkpoint == latest
        assert independent_verifier.checkpoint_signature_ok(checkpoint, sealed.public_key_pem)
        assert independent_verifier.leaf_hash(event).hex() == proof["leaf_hash"]
        assert independent_verifier.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            checkpoint["tree_size"],
            [bytes.fromhex(h) for h in proof["inclusion_proof"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
        older = sealed.get(f"/audit_events/{event['id']}/proof", {"tree_size": oldest["tree_size"]})
        assert older.status_code == (200 if proof["leaf_index"] < oldest["tree_size"] else 404)
    consistency = sealed.get(
        "/checkpoints/consistency", {"from": oldest["tree_size"], "to": latest["tree_size"]}
    )
    assert independent_verifier.verify_consistency(
        oldest["tree_size"],
        latest["tree_size"],
        bytes.fromhex(oldest["root_hash"]),
        bytes.fromhex(latest["root_hash"]),
        [bytes.fromhex(h) for h in consistency.json()["proof"]],
    )


def a_stored_event(sealed: SealedLog, position: int) -> dict[str, Any]:
    leaf = sealed.database[LEAVES].find_one({"company_id": sealed.company, "index": position})
    assert leaf is not None
    event = sealed.pipe.collection.find_one({"_id": leaf["_id"]})
    assert event is not None
    return event


def change_event(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    original = a_stored_event(sealed, 3)
    sealed.pipe.collection.update_one(
        {"_id": original["_id"]}, {"$set": {"event_data.title": "nothing happened"}}
    )
    return ("changed", original["_id"]), lambda: sealed.pipe.collection.replace_one(
        {"_id": original["_id"]}, original
    )


def delete_event(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    original = a_stored_event(sealed, 5)
    sealed.pipe.collection.delete_one({"_id": original["_id"]})
    return ("missing", original["_id"]), lambda: sealed.pipe.collection.insert_one(original)


def insert_event(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    forged = {**a_stored_event(sealed, 1), "_id": f"forged-{uuid.uuid4().hex[:8]}"}
    forged["ingested_at"] = datetime.now(UTC) - timedelta(hours=1)  # backdated, as a forger would
    forged["user_id"] = Int64(forged["user_id"])
    sealed.pipe.collection.insert_one(forged)
    return ("unsealed", forged["_id"]), lambda: sealed.pipe.collection.delete_one({"_id": forged["_id"]})


def replace_old_checkpoint(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    """On the checkpoints collection: the oldest checkpoint's root replaced."""
    collection = sealed.database[CHECKPOINTS]
    oldest = collection.find_one({"company_id": sealed.company}, sort=[("tree_size", 1)])
    assert oldest is not None
    collection.update_one({"_id": oldest["_id"]}, {"$set": {"root_hash": "ab" * 32}})
    return ("checkpoint", f"checkpoint {oldest['tree_size']}"), lambda: collection.replace_one(
        {"_id": oldest["_id"]}, oldest
    )


def sign_with_another_key(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    collection = sealed.database[CHECKPOINTS]
    latest = collection.find_one({"company_id": sealed.company}, sort=[("tree_size", -1)])
    assert latest is not None
    intruder = Ed25519PrivateKey.generate()
    made = signed_checkpoint(latest).checkpoint
    forged: SignedCheckpoint = sign(dataclasses.replace(made, key_id=key_id(intruder.public_key())), intruder)
    collection.update_one({"_id": latest["_id"]}, {"$set": forged.to_dict()})
    return ("checkpoint", f"checkpoint {made.tree_size}"), lambda: collection.replace_one(
        {"_id": latest["_id"]}, latest
    )


def swap_leaves(sealed: SealedLog) -> tuple[tuple[str, str], Callable[[], object]]:
    """The log's own state: two leaves' hashes swapped (events and checkpoints untouched)."""
    leaves = sealed.database[LEAVES]
    first, second = (leaves.find_one({"company_id": sealed.company, "index": n}) for n in (0, 1))
    assert first is not None
    assert second is not None
    leaves.update_one({"_id": first["_id"]}, {"$set": {"leaf_hash": second["leaf_hash"]}})
    leaves.update_one({"_id": second["_id"]}, {"$set": {"leaf_hash": first["leaf_hash"]}})

    def restore() -> None:
        for leaf in (first, second):
            leaves.replace_one({"_id": leaf["_id"]}, leaf)

    return ("log", "checkpoint"), restore


@pytest.mark.fault
@pytest.mark.parametrize(
    "tamper",
    [change_event, delete_event, insert_event, replace_old_checkpoint, sign_with_another_key, swap_leaves],
    ids=lambda tamper: tamper.__name__,
)
def test_each_tampering_fails_verification_naming_it(
    sealed: SealedLog, tamper: Callable[[SealedLog], tuple[tuple[str, str], Callable[[], object]]]
) -> None:
    (kind, subject), restore = tamper(sealed)
    try:
        bundle = sealed.workdir / f"tampered-{tamper.__name__}"
        code, output = sealed.verify("--save", str(bundle))
        assert code == 1, output
        assert f"FAIL {kind:<10} {subject}" in output, output
        independent = independent_verifier.verify_bundle(bundle, sealed.public_key_pem)
        assert not independent.ok
        if kind in ("changed", "missing", "unsealed"):
            assert getattr(independent, kind) == {subject}, independent
        elif kind == "checkpoint":
            assert int(subject.split()[-1]) in independent.bad_checkpoints, independent
        else:
            assert independent.bad_checkpoints, independent
    finally:
        restore()
    code, output = sealed.verify()
    assert code == 0, f"after restoring: {output}"


def test_a_company_key_reads_no_other_companys_log(sealed: SealedLog) -> None:
    other = sealed.other_company
    for path, params in [
        ("/checkpoints", {"company_id": other}),
        ("/checkpoints/leaves", {"company_id": other}),
        ("/checkpoints/consistency", {"company_id": other, "from": 1, "to": 1}),
    ]:
        answer = sealed.get(path, params)
        assert answer.status_code == 403, (path, answer.text)
    their_leaf = sealed.database[LEAVES].find_one({"company_id": other})
    assert their_leaf is not None
    answer = sealed.get(f"/audit_events/{their_leaf['_id']}/proof")
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
    own = sealed.get("/checkpoints/leaves").json()["data"]
    assert own
    owners = {
        leaf["_id"]: leaf["company_id"]
        for leaf in sealed.database[LEAVES].find({"company_id": sealed.company})
    }
    assert all(leaf["event_id"] in owners for leaf in own)
    operator = sealed.pipe.key()
    assert sealed.get("/checkpoints", key=operator).status_code == 400  # must name the company
    assert sealed.get("/checkpoints", {"company_id": other}, key=operator).status_code == 200
    public = httpx.get(f"{sealed.api}/checkpoints/public-key", timeout=10).json()["keys"]
    assert [key["public_key_pem"].encode() for key in public] == [sealed.public_key_pem]


@pytest.mark.fault
def test_history_truncated_with_its_checkpoints_is_caught_by_a_kept_state_only(sealed: SealedLog) -> None:
    """Last in this module: it destroys the newest part of the log for good."""
    state = sealed.workdir / "verified.json"
    code, output = sealed.verify("--state", str(state))
    assert code == 0, output
    checkpoints = sealed.database[CHECKPOINTS]
    newest = list(checkpoints.find({"company_id": sealed.company}).sort("tree_size", -1).limit(2))
    latest_size, kept_size = newest[0]["tree_size"], newest[1]["tree_size"]
    # The insider removes the newest events, their leaves and the checkpoint covering them.
    cut = list(sealed.database[LEAVES].find({"company_id": sealed.company, "index": {"$gte": kept_size}}))
    sealed.pipe.collection.delete_many({"_id": {"$in": [leaf["_id"] for leaf in cut]}})
    sealed.database[LEAVES].delete_many({"_id": {"$in": [leaf["_id"] for leaf in cut]}})
    checkpoints.delete_one({"_id": newest[0]["_id"]})
    code, output = sealed.verify()
    assert code == 0, "without a kept checkpoint the shorter chain is consistent (docs/integrity.md)"
    code, output = sealed.verify("--state", str(state))
    assert code == 1, output
    assert f"FAIL {'history':<10} checkpoint {latest_size}" in output, output
