"""The browser tests' Chromium: used where it is, installed from Debian's packages where it is not
(as root), and a plain error naming the fix everywhere else."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.browser import BrowserUnavailableError, ensure_chromium


def test_an_installed_chromium_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = tmp_path / "chromium"
    executable.write_text("")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("nothing to install"))
    assert ensure_chromium(executable) == executable


def test_a_missing_chromium_is_installed_with_apt_get_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = tmp_path / "chromium"
    commands: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(argv)
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        if "install" in argv:
            executable.write_text("")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr("scripts.browser.shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("scripts.browser.os.geteuid", lambda: 0)
    monkeypatch.setattr("scripts.browser.subprocess.run", run)
    assert ensure_chromium(executable) == executable
    assert [argv[0] for argv in commands] == ["apt-get", "apt-get"]
    assert "update" in commands[0]
    assert commands[1][-4:] == ["install", "-y", "-q", "chromium"]


def test_without_root_or_apt_get_the_error_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = tmp_path / "chromium"
    monkeypatch.setattr("scripts.browser.shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("scripts.browser.os.geteuid", lambda: 1000)
    with pytest.raises(
        BrowserUnavailableError, match="only root can install it; install it by hand: apt-get"
    ):
        ensure_chromium(executable)
    monkeypatch.setattr("scripts.browser.shutil.which", lambda name: None)
    with pytest.raises(BrowserUnavailableError, match="has no apt-get"):
        ensure_chromium(executable)


def test_a_failed_install_shows_apt_gets_last_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scripts.browser.shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("scripts.browser.os.geteuid", lambda: 0)
    monkeypatch.setattr(
        "scripts.browser.subprocess.run",
        lambda argv, **kwargs: subprocess.CompletedProcess(
            argv, 100, "", "E: Unable to locate package chromium"
        ),
    )
    with pytest.raises(BrowserUnavailableError, match="Unable to locate package chromium"):
        ensure_chromium(tmp_path / "chromium")
