"""Every service's /metrics on the real stack, scraped while events flow: the counters agree
with what was really produced, stored and sealed, and with the API requests really made —
forwarded + dead-lettered = consumed = produced; sealed = stored; a route's request count =
the requests made to it. The expositions keep Prometheus' conventions, and `authtrail top`
shows every service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from authtrail.integrity.seal_store import LEAVES
from authtrail.kafka.offsets import consumer_lag
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from scripts.scrape import Samples, endpoints, scrape
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline
from tests.support.faults import Stream, caught_up
from tests.support.metric_lint import problems

pytestmark = pytest.mark.stack
PORTS: dict[str, Any] = {
    "api_metrics_port": 14800,
    "transformer_metrics_port": 14801,
    "sink_watch_metrics_port": 14802,
    "sealer_metrics_port": 14803,
    "api_port": 14804,
}
GOOD = 600
NOT_AVRO = 7
NO_KEY = 5
LISTINGS = 9
UNAUTHORIZED = 4
T = "authtrail_transformer_"
S = "authtrail_sink_watch_"
SEALER = "authtrail_sealer_"
A = "authtrail_api_"


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path: Path) -> Iterator[IsolatedPipeline]:
    with isolated_pipeline(
        settings,
        unique,
        tmp_path,
        connector_tasks_max=2,
        integrity_checkpoint_interval_s=1.0,
        metrics_lag_interval_s=1.0,
        **PORTS,
    ) as running:
        for service in ("transformer", "sink-watch", "sealer", "api"):
            running.start(service)
        yield running


def test_counters_agree_with_what_was_produced_stored_sealed_and_requested(pipe: IsolatedPipeline) -> None:
    urls = endpoints(pipe.settings)
    assert set(urls) == {"transformer", "sink-watch", "sealer", "api"}
    for service, url in urls.items():
        wait_for(partial(http_ok, url), 60, f"the {service} metrics endpoint")
    wait_for(lambda: http_ok(f"{pipe.settings.api_url}/health"), 60, "the API")
    assert httpx.get(f"{pipe.settings.api_url}/metrics", timeout=5).status_code == 404  # a port of its own

    # --- events flow: good ones from a stream, bad ones between them -----------------------------
    stream = Stream(pipe, count=GOOD, rate=300, seed=71, users=200).start()
    bad, factory = pipe.emitter(), EventFactory(seed=72)
    for n in range(NOT_AVRO + NO_KEY):
        raw_key, value = bad.serialize(factory.event())
        if n < NOT_AVRO:
            bad.send_raw(raw_key, b'{"json": "not avro"}')
        else:
            bad.send_raw(None, value)
    stream.wait_sent(GOOD // 3)
    first = scrape(urls["transformer"])
    wait_for(
        lambda: (
            scrape(urls["transformer"]).sum(T + "records_consumed_total")
            > first.sum(T + "records_consumed_total")
        ),
        30,
        "the transformer's counters to move while events flow",
    )

    # --- API requests, counted by route template and status -----------------------------------------
    api = pipe.settings.api_url
    before = scrape(urls["api"])
    key = pipe.key()
    for _ in range(LISTINGS):
        listing = httpx.get(f"{api}/audit_events", params={"per_page": 5}, headers=auth(key), timeout=10)
        assert listing.status_code == 200, listing.text
    for _ in range(UNAUTHORIZED):
        assert httpx.get(f"{api}/audit_events", timeout=10).status_code == 401
    assert httpx.get(f"{api}/audit_events/an-event-id", headers=auth(key), timeout=10).status_code == 404

    stream.join()
    assert bad.flush(60) == 0
    bad.close()
    wait_for(lambda: caught_up(pipe) and sealer_caught_up(pipe), 240, "the pipeline and the sealer")
    stored = pipe.collection.count_documents({})
    assert stored == GOOD

    # --- the transformer: consumed = forwarded + dead-lettered = produced -------------------------------
    transformer = scrape(urls["transformer"])
    produced = GOOD + NOT_AVRO + NO_KEY
    assert transformer.sum(T + "records_consumed_total") == produced
    assert transformer.sum(T + "records_forwarded_total") == GOOD
    assert transformer.by(T + "records_dead_lettered_total", "reason") == {
        "not_avro_value": NOT_AVRO,
        "missing_key": NO_KEY,
    }
    assert transformer.sum(T + "records_dropped_total") == 0
    assert transformer.sum(T + "batch_rewinds_total") == 0
    assert transformer.sum(T + "batch_duration_seconds_count") >= 1
    wait_for(
        lambda: all_zero(scrape(urls["transformer"]), T + "consumer_lag_records"), 30, "transformer lag 0"
    )

    # --- the sink watch: the connector ran, its lag is gone, nothing to reconcile ------------------------
    wait_for(lambda: all_zero(scrape(urls["sink-watch"]), S + "sink_lag_records"), 30, "sink lag 0")
    sink_watch = scrape(urls["sink-watch"])
    assert sink_watch.value(S + "connector_running") == 1
    assert sink_watch.value(S + "failed_tasks") == 0
    assert sink_watch.by(S + "tasks", "state") == {
        "RUNNING": 2,
        "FAILED": 0,
        "PAUSED": 0,
        "UNASSIGNED": 0,
        "RESTARTING": 0,
    }
    assert sink_watch.sum(S + "checks_total", state="RUNNING") >= 1
    assert sink_watch.sum(S + "task_restarts_total") == 0
    assert sink_watch.sum(S + "records_dead_lettered_total") == 0

    # --- the sealer: sealed = stored, checkpoints signed ---------------------------------------------------
    leaves = pipe.mongo[pipe.settings.mongo_database][LEAVES].count_documents({})
    wait_for(lambda: scrape(urls["sealer"]).sum(SEALER + "checkpoints_signed_total") >= 1, 30, "a checkpoint")
    wait_for(lambda: all_zero(scrape(urls["sealer"]), SEALER + "consumer_lag_records"), 30, "sealer lag 0")
    sealer = scrape(urls["sealer"])
    assert sealer.sum(SEALER + "records_consumed_total") == GOOD
    assert sealer.sum(SEALER + "events_sealed_total") == leaves == stored
    assert sealer.sum(SEALER + "duplicates_total") == sealer.sum(SEALER + "conflicts_total") == 0
    assert sealer.value(SEALER + "last_checkpoint_timestamp_seconds") > 0
    assert sealer.sum(SEALER + "sealing_delay_seconds_count") >= 1

    # --- the API: each route's count is the requests made to it --------------------------------------------
    after = scrape(urls["api"])
    moved = delta(after, before, A + "requests_total")
    assert moved(route="/audit_events", method="GET", status="200") == LISTINGS
    assert moved(route="/audit_events", method="GET", status="401") == UNAUTHORIZED
    assert moved(route="/audit_events/{id:path}", method="GET", status="404") == 1
    assert delta(after, before, A + "auth_failures_total")(reason="missing_key") == UNAUTHORIZED
    assert delta(after, before, A + "request_duration_seconds_count")(route="/audit_events") == (
        LISTINGS + UNAUTHORIZED
    )
    assert delta(after, before, A + "store_query_duration_seconds_count")(operation="page") == LISTINGS
    assert "an-event-id" not in httpx.get(urls["api"], timeout=5).text  # ids never become labels

    # --- conventions, and `authtrail top` ----------------------------------------------------------------
    for service, url in urls.items():
        assert problems(httpx.get(url, timeout=5).text) == [], service
    shown = pipe.cli("top", "--once", "--interval", "1")
    assert shown.returncode == 0, shown.stderr
    view = " ".join(shown.stdout.split())
    assert "DOWN" not in view, shown.stdout
    for expected in ("transformer", "sink-watch", "sealer", "RUNNING", "not_avro_value", "/audit_events"):
        assert expected in view, f"{expected!r} not in:\n{shown.stdout}"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sealer_caught_up(pipe: IsolatedPipeline) -> bool:
    s = pipe.settings
    return consumer_lag(s, s.sealer_group, s.sink_topic) == 0


def all_zero(samples: Samples, gauge: str) -> bool:
    per_partition = samples.by(gauge, "partition")
    return bool(per_partition) and not any(per_partition.values())


def delta(after: Samples, before: Samples, name: str) -> Callable[..., float]:
    return lambda **labels: after.sum(name, **labels) - before.sum(name, **labels)


def test_several_api_workers_are_counted_as_one_api(
    stack: LocalStack, settings: Settings, unique: str, tmp_path: Path
) -> None:
    """uvicorn's workers are separate processes: the endpoint (served by their parent) sums them."""
    with isolated_pipeline(
        settings, unique, tmp_path, deploy=False, api_workers=2, api_port=14805, api_metrics_port=14806
    ) as pipe:
        pipe.start("api")
        url = endpoints(pipe.settings)["api"]
        wait_for(partial(http_ok, url), 60, "the API's metrics endpoint")
        wait_for(lambda: http_ok(f"{pipe.settings.api_url}/health"), 60, "the API")
        before = scrape(url)
        requests = 40
        with httpx.Client(timeout=10) as client:  # one connection per request: both workers answer
            for _ in range(requests):
                response = client.get(f"{pipe.settings.api_url}/health", headers={"Connection": "close"})
                assert response.status_code == 200
        after = scrape(url)
        health = delta(after, before, A + "requests_total")(route="/health", status="200")
        assert health == requests
        assert problems(httpx.get(url, timeout=5).text) == []
        workers = {line for line in pipe.log_of("api").splitlines() if "Started server process" in line}
        assert len(workers) >= 2, pipe.log_of("api")[-2000:]
