"""``authtrail dlq inspect | replay``: look at dead letters, and re-feed them after a fix
(the format and the replay itself: ``connect/dead_letter.py``)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from authtrail.logs import configure_logging, get_logger
from authtrail.settings import get_settings
from connect.dead_letter import read_dead_letters, replay_dead_letters
from scripts.console import console

log = get_logger(__name__)
app = typer.Typer(help="Dead letters: inspect them, replay them after a fix.", no_args_is_help=True)


def _preview(data: bytes | None, limit: int = 120) -> str:
    if data is None:
        return "null"
    text = data[:limit].decode("utf-8", errors="backslashreplace")
    return text + ("…" if len(data) > limit else "")


@app.command()
def inspect(
    limit: Annotated[int, typer.Option(help="How many records to show in full.")] = 5,
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Counts of dead letters by reason, then the first LIMIT in full."""
    settings = get_settings()
    configure_logging(settings, "dlq", console_level="WARNING")
    letters = [d for d in read_dead_letters(settings) if reason is None or d.reason == reason]
    counts = Counter(d.reason for d in letters)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "total": len(letters),
                    "by_reason": dict(counts.most_common()),
                    "records": [
                        {
                            "partition": d.record.partition,
                            "offset": d.record.offset,
                            "headers": d.info,
                            "key": _preview(d.record.key),
                            "value": _preview(d.record.value),
                        }
                        for d in letters[:limit]
                    ],
                }
            )
        )
        return
    table = Table("reason", "records", title=f"{settings.dlq_topic}: {len(letters)} dead letter(s)")
    for name, count in counts.most_common():
        table.add_row(name, f"{count:,}")
    console.print(table)
    for letter in letters[:limit]:
        console.print(
            f"\n[bold]{letter.reason}[/] partition {letter.record.partition} offset {letter.record.offset}"
        )
        for name, value in letter.info.items():
            console.print(f"  {name}: {value}", soft_wrap=True)
        console.print(
            f"  key: {_preview(letter.record.key)}\n  value: {_preview(letter.record.value)}", soft_wrap=True
        )


@app.command()
def replay(
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    offset: Annotated[
        list[str] | None, typer.Option(help="PARTITION:OFFSET of one record (repeatable).")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Re-feed selected dead letters to their source topics (after fixing what rejected them)."""
    if not (reason or offset or everything):
        raise typer.BadParameter("select records with --reason, --offset or --all")
    settings = get_settings()
    configure_logging(settings, "dlq", console_level="WARNING")
    selected = {(int(p), int(o)) for p, o in (item.split(":", 1) for item in offset or [])} or None
    sent = replay_dead_letters(settings, reason=reason, offsets=selected)
    console.print(
        f"replayed {sum(sent.values())} record(s): "
        + (", ".join(f"{n} to {t}" for t, n in sent.items()) or "none matched")
    )
