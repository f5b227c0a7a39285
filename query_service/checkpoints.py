"""The tamper evidence a company checks authtrail with (``docs/integrity.md``):

* ``GET /checkpoints/public-key`` — the keys checkpoints are signed with (no key needed: they
  are public, and a company should pin them from a channel other than this API);
* ``GET /checkpoints`` — a company's signed checkpoints, newest first (the latest and history);
* ``GET /checkpoints/leaves`` — its log's leaves in order, up to the latest checkpoint: which
  event sits at which position (what a full verification recomputes the tree from);
* ``GET /checkpoints/consistency`` — a consistency proof between two tree sizes;
* ``GET /audit_events/{id}/proof`` — an event's leaf and its inclusion proof to a checkpoint.

Tenant-scoped like the events: a company key reads its own company's log (another
``company_id`` is a 403); an operator key must name the company.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authtrail.api_keys import Principal
from authtrail.errors import AuthtrailError
from authtrail.integrity.checkpoint import key_id, load_public_key, raw_public_key
from authtrail.integrity.errors import KeyFileError
from query_service.auth import ForbiddenError
from query_service.events import EventNotFoundError, authorized, query_pairs
from query_service.params import (
    LONG_MAX,
    InvalidParametersError,
    ParamSpec,
    Problem,
    check_event_id,
    parse_values,
)
from query_service.responses import JSONBody
from query_service.seal_reads import NODE_CACHE_SIZE, NodeCache, SealReads

MAX_TREE_SIZE = 10**15 - 1
MAX_CHECKPOINTS_PER_PAGE = 1000
MAX_LEAVES_PER_PAGE = 10_000
COMPANY = ParamSpec(
    "company_id",
    "integer",
    "The company whose log to read (a company key: its own, the default; an operator key: required).",
    minimum=1,
    maximum=LONG_MAX,
)


class NotSealedError(AuthtrailError):
    """The event exists, but no checkpoint covers it yet (or not the one asked for)."""


class SealStateError(AuthtrailError):
    """The sealer's stored state lacks what a proof needs: it is incomplete or was altered."""


class IntegrityKeysUnavailableError(AuthtrailError):
    """The public key files cannot be read: the deployment is missing them."""


def checkpoint_specs() -> tuple[ParamSpec, ...]:
    return (
        COMPANY,
        ParamSpec(
            "per_page",
            "integer",
            "Checkpoints per page, newest first.",
            minimum=1,
            maximum=MAX_CHECKPOINTS_PER_PAGE,
            default=100,
        ),
        ParamSpec(
            "before",
            "integer",
            "Only checkpoints of a smaller tree size (meta.next_before of the previous page).",
            minimum=1,
            maximum=MAX_TREE_SIZE,
        ),
    )


def leaves_specs() -> tuple[ParamSpec, ...]:
    return (
        COMPANY,
        ParamSpec("from", "integer", "First leaf index.", minimum=0, maximum=MAX_TREE_SIZE, default=0),
        ParamSpec(
            "per_page",
            "integer",
            "Leaves per page, in index order.",
            minimum=1,
            maximum=MAX_LEAVES_PER_PAGE,
            default=1000,
        ),
    )


def consistency_specs() -> tuple[ParamSpec, ...]:
    return (
        COMPANY,
        ParamSpec("from", "integer", "The older tree size.", minimum=1, maximum=MAX_TREE_SIZE),
        ParamSpec(
            "to",
            "integer",
            "The newer tree size (at most the latest checkpoint's).",
            minimum=1,
            maximum=MAX_TREE_SIZE,
        ),
    )


def proof_specs() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "tree_size",
            "integer",
            "Prove inclusion in the checkpoint of this tree size (default: the latest checkpoint).",
            minimum=1,
            maximum=MAX_TREE_SIZE,
        ),
    )


async def public_key(request: Request) -> Response:
    _parse(request, ())
    keys = []
    for path in request.app.state.settings.public_key_paths:
        try:
            key = load_public_key(path)
        except KeyFileError as exc:
            raise IntegrityKeysUnavailableError(f"a checkpoint public key cannot be read: {exc}") from exc
        keys.append(
            {
                "key_id": key_id(key),
                "algorithm": "Ed25519",
                "public_key": raw_public_key(key).hex(),
                "public_key_pem": path.read_text(),
            }
        )
    return JSONBody({"keys": keys})


async def list_checkpoints(request: Request) -> Response:
    principal = await authorized(request)
    values = _parse(request, checkpoint_specs())
    company_id = _company(values, principal)
    per_page = values.get("per_page", 100)
    found = await _reads(request).checkpoints(company_id, values.get("before"), per_page + 1)
    page = found[:per_page]
    request.state.access.update(result_count=len(page))
    next_before = page[-1].checkpoint.tree_size if len(found) > per_page else None
    return JSONBody(
        {
            "data": [signed.to_dict() for signed in page],
            "meta": {"company_id": company_id, "per_page": per_page, "next_before": next_before},
        }
    )


async def list_leaves(request: Request) -> Response:
    principal = await authorized(request)
    values = _parse(request, leaves_specs())
    company_id = _company(values, principal)
    start, per_page = values.get("from", 0), values.get("per_page", 1000)
    latest = await _reads(request).latest_checkpoint(company_id)
    tree_size = latest.checkpoint.tree_size if latest else 0
    stop = min(start + per_page, tree_size)
    leaves = await _reads(request).leaves(company_id, start, stop) if start < stop else []
    if len(leaves) != max(0, stop - start) or any(
        leaf.index != start + offset for offset, leaf in enumerate(leaves)
    ):
        raise SealStateError(f"company {company_id}'s log lacks leaves in [{start}, {stop})")
    request.state.access.update(result_count=len(leaves))
    return JSONBody(
        {
            "data": [leaf.to_dict() for leaf in leaves],
            "meta": {
                "company_id": company_id,
                "tree_size": tree_size,
                "next_from": stop if stop < tree_size else None,
            },
        }
    )


async def consistency(request: Request) -> Response:
    principal = await authorized(request)
    values = _parse(request, consistency_specs(), required=("from", "to"))
    company_id = _company(values, principal)
    old_size, new_size = values["from"], values["to"]
    latest = await _reads(request).latest_checkpoint(company_id)
    latest_size = latest.checkpoint.tree_size if latest else 0
    if old_size > new_size:
        raise InvalidParametersError([Problem("from", f"must not be above to ({old_size} > {new_size})")])
    if new_size > latest_size:
        # What is published depends on time, not on the request: "not yet", like an unsealed event.
        raise NotSealedError(
            f"company {company_id}'s latest checkpoint covers {latest_size} leaves, not {new_size}"
        )
    proof = await _proof(_reads(request).consistency_proof(company_id, old_size, new_size))
    return JSONBody({"company_id": company_id, "from": old_size, "to": new_size, "proof": proof})


async def event_proof(request: Request) -> Response:
    principal = await authorized(request)
    event_id = request.path_params["id"]
    values, problems = parse_values(query_pairs(request), proof_specs())
    check_event_id(event_id, problems)
    conditions: dict[str, Any] = {"_id": event_id}
    if principal.company_id is not None:
        conditions["company_id"] = principal.company_id  # another tenant's event: "not found"
    reads = _reads(request)
    event, leaf = await asyncio.gather(request.app.state.store.event(conditions), reads.leaf(event_id))
    if event is None:
        raise EventNotFoundError("no such event")
    if leaf is not None and leaf.company_id != event.get("company_id"):
        # The id was sealed first from another company's record (a reused id): that leaf is
        # another company's; this event, as stored, is in no log (verify reports it).
        leaf = None
    if leaf is None:
        raise NotSealedError(f"event {event_id} is not sealed yet")
    wanted = values.get("tree_size")
    checkpoint = await (
        reads.checkpoint_at(leaf.company_id, wanted) if wanted else reads.latest_checkpoint(leaf.company_id)
    )
    if checkpoint is None and wanted:
        raise InvalidParametersError(
            [Problem("tree_size", f"company {leaf.company_id} has no checkpoint of that size")]
        )
    if checkpoint is None or leaf.index >= checkpoint.checkpoint.tree_size:
        raise NotSealedError(
            f"event {event_id} is sealed at leaf {leaf.index}, "
            + ("which no checkpoint covers yet" if not wanted else f"not within tree size {wanted}")
        )
    size = checkpoint.checkpoint.tree_size
    proof = await _proof(reads.inclusion_proof(leaf.company_id, leaf.index, size))
    request.state.access.update(result_count=1)
    return JSONBody(
        {
            "event_id": event_id,
            "company_id": leaf.company_id,
            "leaf_index": leaf.index,
            "leaf_hash": leaf.leaf_hash,
            "tree_size": size,
            "inclusion_proof": proof,
            "checkpoint": checkpoint.to_dict(),
        }
    )


def new_node_cache() -> NodeCache:
    """One per process, shared by its requests (the app's lifespan makes it)."""
    return NodeCache(NODE_CACHE_SIZE)


def _reads(request: Request) -> SealReads:
    return SealReads(request.app.state.store, request.app.state.node_cache)


async def _proof(making: Awaitable[list[bytes]]) -> list[str]:
    try:
        return [digest.hex() for digest in await making]
    except LookupError as exc:
        raise SealStateError(f"the log's stored state cannot make this proof: {exc}") from exc


def _parse(request: Request, specs: tuple[ParamSpec, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    values, problems = parse_values(query_pairs(request), specs)
    given = {problem.parameter for problem in problems} | set(values)
    problems += [Problem(name, "is required") for name in required if name not in given]
    if problems:
        raise InvalidParametersError(problems)
    return values


def _company(values: dict[str, Any], principal: Principal) -> int:
    asked: int | None = values.get("company_id")
    if principal.company_id is None:
        if asked is None:
            raise InvalidParametersError([Problem("company_id", "is required with an operator key")])
        return asked
    if asked is not None and asked != principal.company_id:
        raise ForbiddenError(f"this key may read company {principal.company_id} only")
    return principal.company_id


__all__ = [
    "IntegrityKeysUnavailableError",
    "NotSealedError",
    "SealStateError",
    "consistency",
    "event_proof",
    "list_checkpoints",
    "list_leaves",
    "public_key",
]
