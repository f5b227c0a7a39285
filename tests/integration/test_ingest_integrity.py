"""Ingest integrity: every event sent is stored exactly once or dead-lettered once with a precise
reason — through a registry outage at the worst moment, a record the store refuses, and event
shapes the stores disagree about. Events are produced by an independent client (confluent-kafka's
AvroSerializer against the registry) and counted exactly, per id."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from functools import partial

import bson
import httpx
import pytest
from bson.int64 import Int64
from confluent_kafka import Producer

from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from connect.dead_letter import PATH, REASON, RULE, STAGE
from connect.transformer.storable import parse_json_object
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
from tests.support.faults import Stream, account, dead_letter_ids, report, strictly_equal

pytestmark = [pytest.mark.stack, pytest.mark.fault]
RATE = 3_000


@pytest.mark.control
@pytest.mark.parametrize(
    "down",
    ["registry", "postgres"],
    ids=["registry killed", "PostgreSQL killed under a running registry (and the store)"],
)
def test_registry_down_while_a_fresh_transformer_starts_loses_nothing(
    down: str, pipe: IsolatedPipeline, stack: LocalStack, settings: Settings
) -> None:
    events = 20_000
    stream = Stream(pipe, events, RATE, seed=111)
    stream.emitter.serialize(stream.events[0])  # the producer has its schema ids cached
    pipe.stop("transformer")  # SIGTERM
    stack.kill(down)  # SIGKILL
    pipe.start("transformer")  # a fresh transformer: its schema cache is empty
    stream.start()
    stream.join()  # all 20,000 acknowledged while the registry is down
    wait_for(
        lambda: pipe.log_of("transformer").count("batch will be redone") >= 3,
        60,
        "the transformer to meet the outage",
    )
    partitions = {r["partition"] for r in pipe.read_topic(pipe.settings.raw_topic, timeout_s=30)}
    assert partitions == set(range(pipe.settings.raw_partitions)), "the load covers every partition"
    stack.start(down)
    restarted = time.monotonic()
    result = account(pipe, stream.events, restarted)
    assert result.stored == events
    report(f"{down} killed, fresh transformer started during the outage", result, settings.stack_dir)


def write_poison(pipe: IsolatedPipeline) -> str:
    """Write straight to the sink topic, past the transformer, valid BSON that FerretDB refuses
    as a whole insert command (PostgreSQL's jsonb cannot hold U+0000); return its id."""
    poison_id = f"poison-{uuid.uuid4()}"
    poison = {
        "_id": poison_id,
        "timestamp": datetime.now(UTC),
        "user_id": Int64(1),
        "company_id": Int64(1),
        "event_type": "update",
        "event_resource_type": "bug",
        "resource_id": "BUG-0",
        "event_data": {"s": "a\x00b"},
        "content_sha256": "0" * 64,
    }
    producer = Producer({"bootstrap.servers": pipe.settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(pipe.settings.sink_topic, key=b'{"user_id":1}', value=bson.encode(poison))
    assert producer.flush(30) == 0
    return poison_id


@pytest.mark.control
@pytest.mark.parametrize(
    "interrupted", [False, True], ids=["quarantined", "sink-watch killed mid-quarantine"]
)
def test_a_document_the_store_refuses_is_quarantined_and_everything_after_it_is_stored(
    interrupted: bool, pipe: IsolatedPipeline, settings: Settings
) -> None:
    stream = Stream(pipe, 6_000, RATE, seed=112).start()
    stream.wait_sent(2_000)
    poison_id = write_poison(pipe)
    if interrupted:  # the worst moment: the connector STOPPED, the quarantine writing its window
        wait_for(
            lambda: _state(pipe) == "STOPPED", 120, "the quarantine to stop the connector", interval_s=0.02
        )
        pipe.kill("sink-watch")
        assert _state(pipe) == "STOPPED"  # left stopped: only a sink-watch resumes it
        pipe.start("sink-watch")
    poisoned = time.monotonic()
    stream.join()
    result = account(pipe, stream.events, poisoned, dead={poison_id: "store_refused"})
    assert result.stored == len(stream.events)
    [(_, headers)] = dead_letter_ids(pipe)
    assert "Unicode" in headers["authtrail.error.detail"], headers  # the store's own words
    assert headers["authtrail.source.topic"] == pipe.settings.sink_topic
    assert "sink quarantine done" in pipe.log_of("sink-watch")
    resumed = "resuming a connector an interrupted quarantine left stopped" in pipe.log_of("sink-watch")
    assert resumed == interrupted
    report(
        "sink-watch killed mid-quarantine"
        if interrupted
        else "store-refused document written straight to the sink topic",
        result,
        settings.stack_dir,
    )


def _state(pipe: IsolatedPipeline) -> str | None:
    status = pipe.connector.status()
    return None if status is None else status.state


# event_data texts no supported store disagrees about: stored exactly as accepted…
ACCEPTED = [
    '{"ключ😀": "значение", "a$b": 1, " ": "space key"}',
    '{"empty": {}, "none": [], "null": null, "t": true, "f": false}',
    '{"max": 9223372036854775807, "min": -9223372036854775808, "i32": 2147483648}',
    '{"tiny": 5e-324, "huge": 1.7976931348623157e308, "tenth": 0.1, "whole": 2.0}',
    '{"negzero": -0.0, "intzero": -0}',
    '{"ctl": "\\u0001\\u001f", "seps": "\\u2028\\u2029", "bom": "\\ufeff", "nonchar": "\\uffff"}',
    '{"text": "\\\\u0000 written out, not a NUL", "quote": "\\"", "html": "<script>x</script>"}',
    '{"objs": [{"a": [1, {"b": [2, "x"]}]}, {"c": null}]}',
    '{"deep": ' + '{"d": ' * 30 + "1" + "}" * 30 + "}",
    '{"' + "k" * 500 + '": "a long key"}',
]
# …and refused by every deployment alike, naming the path and the rule.
REFUSED = {
    '{"s": "a\\u0000b"}': ("event_data.s", "nul_character"),
    '{"m": [[1]]}': ("event_data.m[0]", "nested_array"),
    '{"m": [1, []]}': ("event_data.m[1]", "nested_array"),
    '{"a.b": 1}': ("event_data.'a.b'", "dotted_key"),
    '{"o": {"$set": 1}}': ("event_data.o.'$set'", "dollar_key"),
    '{"": 1}': ("event_data.''", "empty_key"),
    '{"a": 1, "a": 2}': ("event_data", "duplicate_key"),
    '{"s": "\\udc80"}': ("event_data.s", "lone_surrogate"),
    '{"n": 9223372036854775808}': ("event_data.n", "integer_out_of_range"),
    '{"x": 1e999}': ("event_data.x", "non_finite_number"),
    '{"deep": ' + '{"d": ' * 32 + "1" + "}" * 32 + "}": ("event_data.deep" + ".d" * 31, "too_deep"),
}


def test_hostile_but_valid_event_data_is_stored_intact_or_refused_by_rule_with_no_stall(
    pipe: IsolatedPipeline, settings: Settings
) -> None:
    factory = EventFactory(seed=113)
    plain = [factory.event() for _ in range(3_000)]
    odd = {text: {**factory.event(), "event_data": text} for text in [*ACCEPTED, *REFUSED]}
    events = [*plain[:1500], *odd.values(), *plain[1500:]]
    emitter = pipe.emitter()
    for event in events:
        emitter.send(event)
    emitter.close()
    assert (emitter.counts.acked, emitter.counts.failed) == (len(events), 0)
    dead = {odd[text]["id"]: "invalid_event_data" for text in REFUSED}
    result = account(pipe, events, time.monotonic(), dead=dead)
    # Every refusal names its path and rule, and was decided by the transformer — before the
    # sink, so the store had no say: the same decision on MongoDB, FerretDB or anything else.
    letters = {event_id: headers for event_id, headers in dead_letter_ids(pipe)}
    for text, (path, rule) in REFUSED.items():
        headers = letters[odd[text]["id"]]
        assert (headers[REASON], headers[STAGE], headers[PATH], headers[RULE]) == (
            "invalid_event_data",
            "validate",
            path,
            rule,
        ), text
    # No stall: the sink never failed, nothing was quarantined.
    assert "sink failed" not in pipe.log_of("sink-watch")
    assert "quarantin" not in pipe.log_of("sink-watch")
    # The API gives event_data back exactly as accepted (types included: 2.0 stays a double).
    pipe.start("api")
    key = pipe.key()
    for text in ACCEPTED:
        event = odd[text]
        body = wait_for(partial(_events_of_user, pipe, key, event["user_id"]), 30, "the API to answer")
        [served] = [d for d in body["data"] if d["id"] == event["id"]]
        assert strictly_equal(served["event_data"], parse_json_object(text, "event_data", "x")), text
    report("hostile event_data shapes mixed into a stream", result, settings.stack_dir)


def _events_of_user(pipe: IsolatedPipeline, key: str, user_id: int) -> dict | None:
    """The user's events through the API, or None while the API is not answering yet."""
    try:
        response = httpx.get(
            f"{pipe.settings.api_url}/audit_events",
            params={"user_id": user_id, "per_page": 1000},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None
