"""``authtrail up`` / ``authtrail down``: the whole system on the local stack."""

from __future__ import annotations

from authtrail.logs import configure_logging
from authtrail.settings import get_settings
from scripts.console import console
from scripts.stack.cli import print_status
from scripts.stack.control import LocalStack


def up() -> None:
    """Start everything: the local stack's servers (fetched and built on first use)."""
    settings = get_settings()
    configure_logging(settings, "system", console_level="WARNING")
    print_status(LocalStack(settings).up())


def down() -> None:
    """Stop everything `authtrail up` started; data stays (see `authtrail stack down --purge`)."""
    settings = get_settings()
    configure_logging(settings, "system", console_level="WARNING")
    stopped = LocalStack(settings).down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
