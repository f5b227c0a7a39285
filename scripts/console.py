"""Terminal output of the CLI: long steps show progress, on a TTY or in a CI log alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Wide enough for the benchmark tables in CI logs, where there is no terminal to measure.
console = Console(highlight=False, width=None if Console().is_terminal else 160)

STATUS_EVERY_S = 15.0


@contextmanager
def step(description: str) -> Iterator[None]:
    """Run a long step: a spinner on a TTY, a status line every 15 s otherwise.

    Prints ``✓ description (Ns)`` when the step ends, ``✗ …`` when it raises.
    """
    started = time.monotonic()
    if console.is_terminal:
        with console.status(f"{description}…"):
            try:
                yield
            except BaseException:
                console.print(f"[red]✗[/] {description} ({time.monotonic() - started:.0f}s)")
                raise
    else:
        console.print(f"… {description}")
        done = threading.Event()

        def tick() -> None:
            while not done.wait(STATUS_EVERY_S):
                console.print(f"… still {description} ({time.monotonic() - started:.0f}s)")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        except BaseException:
            console.print(f"✗ {description} ({time.monotonic() - started:.0f}s)")
            raise
        finally:
            done.set()
    console.print(f"[green]✓[/] {description} ({time.monotonic() - started:.1f}s)")


@contextmanager
def progress(description: str, total: int | None, completed: int = 0) -> Iterator[Callable[[int], None]]:
    """Count work done: a progress bar on a TTY, ``description: n/total`` every 15 s otherwise.
    Yields ``advance(n)``."""
    if console.is_terminal:
        with Progress(
            TextColumn(f"[bold]{description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("", total=total, completed=completed)
            yield lambda n: bar.advance(task, n)
        return
    done = [completed]
    with step(description):
        next_line = time.monotonic() + STATUS_EVERY_S

        def advance(n: int) -> None:
            nonlocal next_line
            done[0] += n
            if time.monotonic() >= next_line:
                next_line = time.monotonic() + STATUS_EVERY_S
                console.print(f"… {description}: {done[0]:,}" + (f" of {total:,}" if total else ""))

        yield advance
