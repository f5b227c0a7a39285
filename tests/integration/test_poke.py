"""`authtrail poke` reports each component with its latency and fails when one is down."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from authtrail.settings import Settings
from scripts.isolated import pipeline
from scripts.stack.control import LocalStack
from scripts.waiting import wait_for

pytestmark = pytest.mark.stack
COMPONENTS = ("broker", "registry", "connect sink", "transformer", "store", "api")


def poke(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", "poke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_poke_reports_every_component_and_fails_when_one_is_down(
    stack: LocalStack, settings: Settings, unique: str, tmp_path
) -> None:
    with pipeline(settings, unique, tmp_path, api_port=14200) as pipe:
        pipe.start("transformer")
        pipe.start("api")
        env = {
            **os.environ,
            **pipe.settings.to_env(),
            "AUTHTRAIL_LOG_DIR": str(tmp_path / "poke-log"),
            "AUTHTRAIL_API_KEY": pipe.key(),
        }
        wait_for(lambda: _up(pipe.settings.api_url), 30, "the API")
        healthy = wait_for(lambda: (r := poke(env)).returncode == 0 and r, 60, "every component up")
        lines = healthy.stdout.splitlines()
        assert [line.split()[1] for line in lines] == [c.split()[0] for c in COMPONENTS]
        assert all(line.startswith("up") and " ms " in line for line in lines)

        pipe.stop("transformer")
        broken = wait_for(
            lambda: (r := poke(env)).returncode == 1 and r, 60, "poke to notice the transformer"
        )
        assert any(line.startswith("DOWN") and "transformer" in line for line in broken.stdout.splitlines())
        assert sum(line.startswith("up") for line in broken.stdout.splitlines()) == len(COMPONENTS) - 1


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200

    except httpx.HTTPError:
        return False
