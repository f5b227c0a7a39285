"""The OpenAPI paths and schemas of the tamper evidence (``checkpoints.py``), built from its
parameter specs like the rest of the document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from query_service.checkpoints import checkpoint_specs, consistency_specs, leaves_specs, proof_specs
from query_service.openapi_schemas import (
    RATE_LIMITED,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    URI_TOO_LONG,
    error_response,
    id_path_parameter,
    json_response,
)

HEX_32 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
PROOF = {"type": "array", "items": HEX_32, "description": "Hashes, lowest level first (RFC 9162)."}
SIGNED_CHECKPOINT = {
    "type": "object",
    "description": "Signed as b'authtrail-checkpoint/v1\\n' + canonical JSON of the six fields "
    "other than signature (docs/integrity.md).",
    "required": ["company_id", "tree_size", "root_hash", "time", "previous", "key_id", "signature"],
    "properties": {
        "company_id": {"type": "integer", "format": "int64"},
        "tree_size": {"type": "integer", "minimum": 1},
        "root_hash": HEX_32,
        "time": {"type": "string", "format": "date-time"},
        "previous": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "key_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    },
}
SCHEMAS = {
    "SignedCheckpoint": SIGNED_CHECKPOINT,
    "CheckpointPage": {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/SignedCheckpoint"}},
            "meta": {
                "type": "object",
                "required": ["company_id", "per_page", "next_before"],
                "properties": {
                    "company_id": {"type": "integer"},
                    "per_page": {"type": "integer"},
                    "next_before": {"type": ["integer", "null"]},
                },
            },
        },
    },
    "LeafPage": {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "event_id", "leaf_hash"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "event_id": {"type": "string"},
                        "leaf_hash": HEX_32,
                    },
                },
            },
            "meta": {
                "type": "object",
                "required": ["company_id", "tree_size", "next_from"],
                "properties": {
                    "company_id": {"type": "integer"},
                    "tree_size": {"type": "integer", "minimum": 0},
                    "next_from": {"type": ["integer", "null"]},
                },
            },
        },
    },
    "ConsistencyProof": {
        "type": "object",
        "required": ["company_id", "from", "to", "proof"],
        "properties": {
            "company_id": {"type": "integer"},
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "proof": PROOF,
        },
    },
    "InclusionProof": {
        "type": "object",
        "required": [
            "event_id",
            "company_id",
            "leaf_index",
            "leaf_hash",
            "tree_size",
            "inclusion_proof",
            "checkpoint",
        ],
        "properties": {
            "event_id": {"type": "string"},
            "company_id": {"type": "integer"},
            "leaf_index": {"type": "integer", "minimum": 0},
            "leaf_hash": HEX_32,
            "tree_size": {"type": "integer", "minimum": 1},
            "inclusion_proof": PROOF,
            "checkpoint": {"$ref": "#/components/schemas/SignedCheckpoint"},
        },
    },
    "PublicKeys": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key_id", "algorithm", "public_key", "public_key_pem"],
                    "properties": {
                        "key_id": {"type": "string"},
                        "algorithm": {"const": "Ed25519"},
                        "public_key": {"type": "string", "description": "The raw 32-byte key, hex."},
                        "public_key_pem": {"type": "string"},
                    },
                },
            }
        },
    },
}
TENANT = (
    "A company key reads its own company's log (company_id defaults to it; another is a 403); "
    "an operator key must give company_id."
)


def integrity_paths(
    query_parameters: Callable[[Any], list[dict[str, Any]]], bearer: list[dict[str, list[str]]]
) -> dict[str, Any]:
    def guarded(responses: dict[str, Any]) -> dict[str, Any]:
        return {
            **responses,
            "400": error_response("Invalid parameters; details name each."),
            "401": UNAUTHORIZED,
            "403": error_response("The key's company is not the one asked for."),
            "413": TOO_LARGE,
            "414": URI_TOO_LONG,
            "429": RATE_LIMITED,
            "503": UNAVAILABLE,
        }

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    return {
        "/checkpoints": {
            "get": {
                "operationId": "listCheckpoints",
                "summary": "A company's signed checkpoints, newest first",
                "description": TENANT,
                "security": bearer,
                "parameters": query_parameters(checkpoint_specs()),
                "responses": guarded({"200": json_response("A page of checkpoints.", ref("CheckpointPage"))}),
            }
        },
        "/checkpoints/public-key": {
            "get": {
                "operationId": "checkpointPublicKeys",
                "summary": "The keys checkpoints are signed with (pin them out of band)",
                "responses": {
                    "200": json_response("The public keys.", ref("PublicKeys")),
                    "400": error_response("Query parameters (it takes none)."),
                    "413": TOO_LARGE,
                    "414": URI_TOO_LONG,
                    "503": error_response("The deployment's public key files cannot be read."),
                },
            }
        },
        "/checkpoints/leaves": {
            "get": {
                "operationId": "listLeaves",
                "summary": "A company's log in order, up to its latest checkpoint: event id and leaf hash",
                "description": TENANT,
                "security": bearer,
                "parameters": query_parameters(leaves_specs()),
                "responses": guarded({"200": json_response("A page of leaves.", ref("LeafPage"))}),
            }
        },
        "/checkpoints/consistency": {
            "get": {
                "operationId": "consistencyProof",
                "summary": "Proof that the log at size `from` is a prefix of the log at size `to`",
                "description": TENANT,
                "security": bearer,
                "parameters": query_parameters(consistency_specs()),
                "responses": guarded(
                    {
                        "200": json_response("The proof.", ref("ConsistencyProof")),
                        "404": error_response("not_sealed: no checkpoint covers size `to` yet."),
                    }
                ),
            }
        },
        "/audit_events/{id}/proof": {
            "get": {
                "operationId": "inclusionProof",
                "summary": "An event's leaf and its inclusion proof to a signed checkpoint",
                "description": "404 not_found: no such event for this key; 404 not_sealed: no checkpoint "
                "covers it yet, or none has the tree_size asked for (Retry-After).",
                "security": bearer,
                "parameters": [id_path_parameter(), *query_parameters(proof_specs())],
                "responses": guarded(
                    {
                        "200": json_response("The proof.", ref("InclusionProof")),
                        "404": error_response("No such event, or not sealed yet."),
                    }
                ),
            }
        },
    }
