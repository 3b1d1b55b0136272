"""``hub api serve``: the read API and the dashboard over HTTP; ``hub keys new``: a key for it."""

from __future__ import annotations

import secrets

import click

from hub.cli.context import settings_of

__all__ = ["api", "keys"]


@click.group()
def api() -> None:
    """The read API: dossiers, timelines, status, dead letters, reports (OpenAPI at /docs)."""


@api.command("serve")
@click.option("--host", help="Interface (default HUB_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default HUB_API_PORT, 8080).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve until Ctrl-C; needs HUB_API_KEYS or HUB_API_KEYS_FILE."""
    # The HTTP server and app are imported when served, not by every `hub` command.
    from hub.api.app import build_api
    from hub.api.serving import serve as serve_http

    settings = settings_of(ctx)
    app = build_api(settings)
    host, port = host or settings.api_host, port or settings.api_port
    docs = " (OpenAPI: /openapi.json, docs: /docs)" if settings.api_docs or settings.demo else ""
    click.echo(f"read API on http://{host}:{port}/{docs}")
    serve_http(app, host, port, settings)


@click.group()
def keys() -> None:
    """API keys of the read API and dashboard."""


@keys.command("new")
@click.option("--role", type=click.Choice(["viewer", "operator"]), default="viewer", show_default=True)
def keys_new(role: str) -> None:
    """Print a new random key as a HUB_API_KEYS entry (KEY=ROLE): 192 bits, from the OS's random source."""
    click.echo(f"{secrets.token_urlsafe(24)}={role}")
