"""Structured logging: one line per meaningful event, to the console and to a file.

The console gets ``key=value`` lines people can read; ``<log_dir>/<component>.log`` gets
JSON lines machines can search. Library loggers (uvicorn, pymongo…) go through the same
handlers, so every line of a process ends up in both places.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from authtrail.settings import Settings

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(settings: Settings, component: str, console_level: str | None = None) -> None:
    """Route every logger of this process to the console and ``<component>.log``.

    ``console_level`` lets interactive commands keep the terminal for their own output
    (the file still receives everything at ``settings.log_level``).
    """
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    structlog.contextvars.bind_contextvars(component=component)
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level or settings.log_level)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.KeyValueRenderer(
                key_order=["timestamp", "level", "event", "component"], drop_missing=True
            ),
            foreign_pre_chain=_SHARED_PROCESSORS,
        )
    )
    to_file = logging.FileHandler(settings.log_dir / f"{component}.log", encoding="utf-8")
    to_file.setLevel(settings.log_level)
    to_file.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=_SHARED_PROCESSORS
        )
    )
    root = logging.getLogger()
    root.handlers = [console, to_file]
    root.setLevel(settings.log_level)
    # Chatty libraries: their debug lines are not events of ours.
    for noisy in ("pymongo", "httpx", "httpx2", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
