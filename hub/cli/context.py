"""What every CLI command shares: the settings the top-level group built, the tail loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import click

from hub.errors import HubError
from hub.log.kafka_source import KafkaRecordSource, follow
from hub.ports import Record
from hub.settings import Settings

__all__ = ["one_of", "settings_of", "tail_records"]


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the hub command group sets the settings"
    return settings


def one_of(known: Mapping[str, object], what: str) -> Callable[[click.Context, click.Parameter, str], str]:
    """A click callback that accepts a name of ``known`` and refuses any other, listing them."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        if value not in known:
            raise click.BadParameter(f"unknown {what} {value!r} (known: {', '.join(known)})")
        return value

    return check


def tail_records(
    source: KafkaRecordSource, render: Callable[[Record], str | None], *, limit: int | None, idle_exit: float | None
) -> None:
    """Print ``render(record)`` per record until ``limit`` lines, ``idle_exit`` quiet seconds or Ctrl-C; None
    skips a record; one that does not decode (HubError) is reported on stderr, not skipped silently."""
    shown = 0
    try:
        for record in follow(source, idle_exit):
            try:
                text = render(record)
            except HubError as exc:
                click.echo(f"{record.topic}[{record.partition}]@{record.offset}: undecodable: {exc}", err=True)
                continue
            if text is None:
                continue
            click.echo(text)
            shown += 1
            if limit is not None and shown >= limit:
                break
    except KeyboardInterrupt:
        pass
    finally:
        source.close()
