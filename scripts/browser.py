"""Debian's Chromium for the viewer's browser tests, installed by the project itself.

Playwright drives the system's ``/usr/bin/chromium`` (``executable_path``): its own browser
download cannot work here, so ``playwright install`` is never run. A fresh machine (CI) has no
Chromium: :func:`ensure_chromium` installs Debian's package with apt-get the first time (as root,
as CI runs), and says plainly what to do where it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's services, and this
# machine's closed network refuses those connections in bulk; the rest keep a headless run quiet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_TIMEOUT_S = 900


class BrowserUnavailableError(RuntimeError):
    pass


def ensure_chromium(path: Path = CHROMIUM) -> Path:
    """``path`` once Chromium is there: installed from Debian's packages if it is missing."""
    if path.exists():
        return path
    manual = "install it by hand: apt-get update && apt-get install -y chromium"
    if shutil.which("apt-get") is None:
        raise BrowserUnavailableError(f"{path} is missing and this system has no apt-get; {manual}")
    if os.geteuid() != 0:
        raise BrowserUnavailableError(f"{path} is missing and only root can install it; {manual}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_wait = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get at work: wait, do not fail
    for argv in (
        ["apt-get", *lock_wait, "update", "-q"],
        ["apt-get", *lock_wait, "install", "-y", "-q", "chromium"],
    ):
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrowserUnavailableError(
                f"{' '.join(argv)} took over {INSTALL_TIMEOUT_S} s; {manual}"
            ) from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BrowserUnavailableError(f"{' '.join(argv)} failed ({done.returncode}):\n{tail}\n{manual}")
    if not path.exists():
        raise BrowserUnavailableError(f"apt-get installed chromium, but {path} is still missing")
    return path
