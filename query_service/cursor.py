"""Opaque cursors: a position in an order, bound to the filters and the key scope that produced it.

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload)[:16])``, the payload
the compact JSON ``[version, order, position ms, position id, binding, ties]`` (``ties``: events
of the position's time the walk returned, which sizes the next page's query; absent from cursors
issued before it was added, which still work). The binding is a digest
of the request's filters and its key's scope, so a cursor replayed with other filters or by
another tenant's key, or altered in any bit, is refused (400) instead of silently starting a walk
somewhere else. It grants nothing: the tenant scope is forced from the key on every request.
Pure: no I/O, unit-tested; the secret comes from :mod:`query_service.signing`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from authtrail.errors import AuthtrailError
from query_service.query import Position, SortOrder, at_millis, from_millis

VERSION = 1
MAC_BYTES = 16  # 128 bits: forging one is out of reach; the cursor stays short
BINDING_BYTES = 12


class CursorError(AuthtrailError):
    """A cursor this API did not issue, or issued for another order, filters or key scope."""


def binding(filters: dict[str, Any], scope: str) -> str:
    """Digest of what a cursor is valid for. Lists are sets: ``a,b`` and ``b,a`` are one filter."""
    canonical = {
        name: sorted(value) if isinstance(value, tuple) else value for name, value in filters.items()
    }
    digest = hashlib.sha256(orjson.dumps([scope, canonical], option=orjson.OPT_SORT_KEYS)).digest()
    return _b64(digest[:BINDING_BYTES])


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, order: SortOrder, position: Position, bound_to: str) -> str:
        fields = [VERSION, order.name, at_millis(position.at), position.id, bound_to]
        payload = orjson.dumps(fields if position.ties is None else [*fields, position.ties])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, order: SortOrder, bound_to: str) -> Position:
        """The position of a cursor issued for ``order`` and ``bound_to``, else :class:`CursorError`."""
        payload_text, _, mac_text = token.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError) as exc:
            raise CursorError("is not a cursor this API issued") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise CursorError("is not a cursor this API issued (altered, or signed with another secret)")
        version, order_name, millis, event_id, cursor_binding, *ties = orjson.loads(payload)
        if version != VERSION:
            raise CursorError("comes from another version of this API; start the walk again")
        if order_name != order.name:
            raise CursorError(f"belongs to order={order_name}, not order={order.name}")
        if not hmac.compare_digest(cursor_binding, bound_to):
            raise CursorError(
                "was issued for other filters or another key; "
                "repeat the filters of the request that returned it"
            )
        return Position(from_millis(millis), event_id, *ties)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # unused low bits of the last character: one cursor, one spelling
        raise ValueError("not canonical base64url")
    return data
