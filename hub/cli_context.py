"""What every CLI command shares: the settings the top-level group built."""

from __future__ import annotations

import click

from hub.settings import Settings

__all__ = ["settings_of"]


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the hub command group sets the settings"
    return settings
