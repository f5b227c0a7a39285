"""Kafka Connect's and the broker's own metrics, through the Prometheus JMX exporter's Java agent
(scripts/stack/jmx/), scraped on the real stack while events flow through a pipeline of the
test's own: the sink tasks' counters move by exactly what was stored, their put-batch time is
there, their error counters stay at 0 until a record the sink cannot read arrives (then it goes
to the sink's dead letter queue, and the counters say so); the broker counts the records
appended to the sink topic. The names keep Prometheus' conventions and are all documented;
`authtrail top` shows the Connect and broker rows."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from authtrail.settings import PROJECT_ROOT, Settings
from authtrail.waiting import http_ok, wait_for
from scripts.scrape import Samples, jmx_endpoints, scrape
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline
from scripts.top import TopView
from tests.support.faults import Stream
from tests.support.metric_lint import problems

pytestmark = pytest.mark.stack
GOOD = 500
TASKS = 2
C = "kafka_connect_"
ERRORS = (
    "task_record_errors_total",
    "task_record_failures_total",
    "task_records_skipped_total",
    "task_dead_letter_queue_produce_requests_total",
    "task_dead_letter_queue_produce_failures_total",
)


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path: Path) -> Iterator[IsolatedPipeline]:
    with isolated_pipeline(settings, unique, tmp_path, connector_tasks_max=TASKS) as running:
        running.start("transformer")
        yield running


def test_connect_and_broker_metrics_follow_the_events_through_the_sink(
    pipe: IsolatedPipeline, settings: Settings
) -> None:
    urls = jmx_endpoints(settings)
    assert set(urls) == {"connect", "kafka"}
    for jvm, url in urls.items():
        wait_for(partial(http_ok, url), 60, f"the {jvm} JMX exporter endpoint")
    connector = pipe.settings.connector_name
    mine = {"connector": connector}

    # --- the connector's tasks, as Connect itself reports them ------------------------------------
    def assigned() -> bool:
        samples = scrape(urls["connect"])
        return (
            samples.by(C + "task_status", "state", **mine) == {"running": TASKS}
            and samples.sum(C + "sink_task_partitions", **mine) == pipe.settings.sink_partitions
        )

    wait_for(assigned, 60, f"{TASKS} running tasks of {connector}, every partition assigned")
    before = scrape(urls["connect"])
    assert before.value(C + "connector_tasks", connector=connector, state="running") == TASKS
    assert before.value(C + "connector_tasks", connector=connector, state="failed") == 0

    # --- events flow: the sink tasks' counters move while they do ---------------------------------
    stream = Stream(pipe, count=GOOD, rate=250, seed=81, users=300).start()
    stream.wait_sent(GOOD // 3)
    wait_for(
        lambda: (
            scrape(urls["connect"]).sum(C + "sink_task_records_sent_total", **mine)
            > before.sum(C + "sink_task_records_sent_total", **mine)
        ),
        60,
        "the sink tasks' records_sent_total to move while events flow",
    )
    flowing = scrape(urls["connect"])
    assert finite(flowing, C + "sink_task_put_batch_max_time_seconds", **mine), "no put-batch time"
    stream.join()
    stored = pipe.wait_stored(GOOD)
    assert stored == GOOD

    # --- caught up: what was put is what was stored, and nothing failed -----------------------------
    after = scrape(urls["connect"])

    def moved(name: str) -> float:
        return delta(after, before, name, **mine)

    assert moved(C + "sink_task_records_read_total") == stored
    assert moved(C + "sink_task_records_sent_total") == stored
    assert moved(C + "sink_task_offset_commits_total") >= 1
    assert len(after.values[C + "sink_task_put_batch_avg_time_seconds"]) >= TASKS
    assert all(v >= 0 for v in finite(after, C + "sink_task_put_batch_max_time_seconds", **mine))
    assert errors_of(after, connector) == dict.fromkeys(ERRORS, 0.0)
    wait_for(
        lambda: (
            lag_of(scrape(urls["connect"]), connector)
            == {p: 0.0 for p in range(pipe.settings.sink_partitions)}
        ),
        30,
        "every sink partition's consumer lag 0",
    )
    lagging = scrape(urls["connect"]).by(C + "sink_consumer_lag_records", "topic", connector=connector)
    assert set(lagging) == {pipe.settings.sink_topic}  # not also Kafka's copy named t…_sink (KIP-1109)

    # --- the broker counted the records appended to the pipeline's topics ---------------------------
    broker = scrape(urls["kafka"])
    assert broker.value("kafka_server_topic_messages_in_total", topic=pipe.settings.sink_topic) == GOOD
    assert broker.value("kafka_server_topic_messages_in_total", topic=pipe.settings.raw_topic) == GOOD
    assert broker.value("kafka_server_topic_bytes_in_total", topic=pipe.settings.sink_topic) > 0
    assert broker.sum("kafka_server_messages_in_total") >= 2 * GOOD
    assert broker.value("kafka_server_under_replicated_partitions") == 0
    assert broker.value("kafka_controller_offline_partitions") == 0
    assert broker.value("kafka_controller_active_controllers") == 1
    assert broker.value("kafka_network_requests_total", request="Produce") > 0
    assert finite(broker, "kafka_network_request_time_p99_seconds", request="Produce")

    # --- a record the sink cannot read: the error counters and the dead letter queue move -------------
    producer = Producer({"bootstrap.servers": pipe.settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(pipe.settings.sink_topic, key=b'{"user_id":1}', value=b"not a BSON document")
    assert producer.flush(30) == 0
    wait_for(
        lambda: scrape(urls["connect"]).sum(C + "task_dead_letter_queue_produce_requests_total", **mine) == 1,
        60,
        "the unreadable record in the sink's dead letter queue, as Connect counts it",
    )
    errored = scrape(urls["connect"])
    assert errors_of(errored, connector) == {
        "task_record_errors_total": 0.0,
        "task_record_failures_total": 1.0,
        "task_records_skipped_total": 0.0,
        "task_dead_letter_queue_produce_requests_total": 1.0,
        "task_dead_letter_queue_produce_failures_total": 0.0,
    }
    assert errored.by(C + "task_status", "state", **mine) == {"running": TASKS}
    assert pipe.collection.count_documents({}) == GOOD

    # --- conventions: names, types, units, help, labels; and every one is documented --------------------
    guide = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    for jvm, url in urls.items():
        text = httpx.get(url, timeout=5).text
        assert problems(text, jmx=True) == [], jvm
        families = {
            f.name: f.type for f in text_string_to_metric_families(text) if f.name.startswith("kafka_")
        }
        assert families, f"no kafka_ metrics from {jvm}"
        undocumented = [
            name
            for name, kind in families.items()
            if f"`{name}{'_total' if kind == 'counter' else ''}`" not in guide
        ]
        assert undocumented == [], jvm  # small and explicit: a catch-all rule would show here

    # --- `authtrail top`: the Connect and broker rows --------------------------------------------------
    view = TopView(urls)
    view.refresh()
    time.sleep(1)
    console = Console(record=True, width=250)
    console.print(view.refresh())
    shown = " ".join(console.export_text().split())
    assert "DOWN" not in shown, shown
    for expected in ("connect", "records put", "put batch avg", "record errors", "kafka", "messages in"):
        assert expected in shown, f"{expected!r} not in: {shown}"


def finite(samples: Samples, name: str, **labels: str) -> list[float]:
    """The values of ``name`` (with these labels) that are numbers: Kafka's windowed metrics
    read NaN when nothing happened in their window."""
    wanted = set(labels.items())
    return [v for have, v in samples.values.get(name, {}).items() if wanted <= have and math.isfinite(v)]


def errors_of(samples: Samples, connector: str) -> dict[str, float]:
    return {name: samples.sum(C + name, connector=connector) for name in ERRORS}


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return after.sum(name, **labels) - before.sum(name, **labels)


def lag_of(samples: Samples, connector: str) -> dict[int, float]:
    return {
        int(partition): lag
        for partition, lag in samples.by(
            C + "sink_consumer_lag_records", "partition", connector=connector
        ).items()
    }
