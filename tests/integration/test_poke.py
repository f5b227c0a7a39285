"""`authtrail poke` reports each component with its latency and fails when one is down."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from authtrail.settings import Settings
from authtrail.waiting import http_ok, wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import isolated_pipeline

pytestmark = pytest.mark.stack
COMPONENTS = ("broker", "registry", "connect sink", "transformer", "sink watch", "sealer", "store", "api")


def test_poke_reports_every_component_and_fails_when_one_is_down(
    stack: LocalStack, settings: Settings, unique: str, tmp_path
) -> None:
    with isolated_pipeline(settings, unique, tmp_path, api_port=14200) as pipe:
        pipe.start("transformer")
        pipe.start("sink-watch")
        pipe.start("sealer")
        pipe.start("api")
        key = SecretStr(pipe.key())
        wait_for(lambda: http_ok(f"{pipe.settings.api_url}/health"), 30, "the API")
        healthy = wait_for(
            lambda: (r := pipe.cli("poke", api_key=key)).returncode == 0 and r, 60, "every component up"
        )

        lines = healthy.stdout.splitlines()
        assert [line.split()[1] for line in lines] == [c.split()[0] for c in COMPONENTS]
        assert all(line.startswith("up") and " ms " in line for line in lines)

        pipe.stop("transformer")
        broken = wait_for(
            lambda: (r := pipe.cli("poke", api_key=key)).returncode == 1 and r,
            60,
            "poke to notice the transformer",
        )
        assert any(line.startswith("DOWN") and "transformer" in line for line in broken.stdout.splitlines())
        assert sum(line.startswith("up") for line in broken.stdout.splitlines()) == len(COMPONENTS) - 1

        pipe.stop("sink-watch")
        wait_for(
            lambda: "DOWN sink watch" in " ".join(pipe.cli("poke", api_key=key).stdout.split()),
            60,
            "poke to notice the sink watch",
        )

        pipe.stop("sealer")
        wait_for(
            lambda: "DOWN sealer" in " ".join(pipe.cli("poke", api_key=key).stdout.split()),
            60,
            "poke to notice the sealer",
        )
