"""``authtrail poke``: is every component up? One line each, with its latency; exit 1 if not.

Each check is bounded (a few seconds at most), so a dead component is reported, not waited on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx
import typer
from pymongo import MongoClient

from authtrail.kafka.clients import admin_client, group_members
from authtrail.kafka.offsets import consumer_lag
from authtrail.kafka_connect import ConnectorClient
from authtrail.key_store import client_key
from authtrail.logs import configure_logging, get_logger
from authtrail.settings import Settings, get_settings
from scripts.console import console

log = get_logger(__name__)
TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    latency_ms: float
    detail: str


def _timed(component: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}"[:200], False
    return Check(component, ok, (time.perf_counter() - started) * 1000, detail)


def broker(settings: Settings) -> str:
    metadata = admin_client(settings, **{"socket.timeout.ms": 3000}).list_topics(timeout=TIMEOUT_S)
    missing = [
        t for t in (settings.raw_topic, settings.sink_topic, settings.dlq_topic) if t not in metadata.topics
    ]
    if missing:
        raise RuntimeError(f"topics missing: {', '.join(missing)}")
    return f"{len(metadata.brokers)} broker(s), pipeline topics present"


def registry(settings: Settings) -> str:
    subjects = (
        httpx.get(f"{settings.schema_registry_url}/subjects", timeout=TIMEOUT_S).raise_for_status().json()
    )
    wanted = f"{settings.raw_topic}-value"
    if wanted not in subjects:
        raise RuntimeError(f"subject {wanted} is not registered")
    return f"{len(subjects)} subject(s), {wanted} registered"


def connector(settings: Settings) -> str:
    status = ConnectorClient(settings.connect_url, settings.connector_name, timeout_s=TIMEOUT_S).status()
    if status is None:
        raise RuntimeError(f"connector {settings.connector_name} is not deployed")
    if not status.running:
        raise RuntimeError(status.summary())
    return status.summary()


def transformer(settings: Settings) -> str:
    return _consuming(settings, "transformer", settings.transformer_group, settings.raw_topic)


def sink_watch(settings: Settings) -> str:
    """Without it, nothing restarts a failed sink task or quarantines a record the store refuses."""
    group = f"{settings.connector_name}-reconciler"  # the group its reconciler consumes in
    if not (members := group_members(settings, group, TIMEOUT_S)):
        raise RuntimeError(f"no sink watch is running (group {group} has no member)")
    return f"{members} member(s)"


def sealer(settings: Settings) -> str:
    """Without it, accepted events are not sealed into their companies' logs (docs/integrity.md)."""
    return _consuming(settings, "sealer", settings.sealer_group, settings.sink_topic)


def _consuming(settings: Settings, service: str, group: str, topic: str) -> str:
    """A service that consumes ``topic`` in ``group``: up while the group has a member."""
    members = group_members(settings, group, TIMEOUT_S)
    lag = consumer_lag(settings, group, topic)
    if not members:
        raise RuntimeError(f"no {service} is consuming (group {group}, lag {lag})")
    return f"{members} member(s), lag {lag}"


def store(settings: Settings) -> str:
    client: MongoClient[dict[str, object]] = MongoClient(
        settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=int(TIMEOUT_S * 1000)
    )
    with client:
        client.admin.command("ping")
        names = client[settings.mongo_database].list_collection_names()
    return f"ping ok, {settings.mongo_database}.{settings.mongo_collection} " + (
        "exists" if settings.mongo_collection in names else "not created yet"
    )


def api(settings: Settings) -> str:
    key = client_key(settings)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    ready = httpx.get(f"{settings.api_url}/ready", headers=headers, timeout=TIMEOUT_S)
    if ready.status_code != 200:
        raise RuntimeError(f"/ready answered {ready.status_code}: {ready.text[:100]}")
    return f"{settings.api_url} ready"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "broker": broker,
    "registry": registry,
    "connect sink": connector,
    "transformer": transformer,
    "sink watch": sink_watch,
    "sealer": sealer,
    "store": store,
    "api": api,
}


def run_checks(settings: Settings) -> list[Check]:
    return [_timed(name, partial(check, settings)) for name, check in CHECKS.items()]


def poke() -> None:
    """Check broker, registry, Connect sink, transformer, sink watch, sealer, store and API; exit 1
    if any is down."""
    settings = get_settings()
    configure_logging(settings, "poke", console_level="ERROR")
    results = run_checks(settings)
    for check in results:
        mark = "[green]up  [/]" if check.ok else "[red]DOWN[/]"
        console.print(
            f"{mark} {check.component:<13} {check.latency_ms:7.1f} ms  {check.detail}", soft_wrap=True
        )
        log.info(
            "poke",
            component=check.component,
            ok=check.ok,
            latency_ms=round(check.latency_ms, 1),
            detail=check.detail,
        )
    if not all(check.ok for check in results):
        raise typer.Exit(1)
