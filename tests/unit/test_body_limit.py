"""The request size limit of the hub's HTTP edges (hub/api/body_limit.py)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hub.api.body_limit import BodyLimit


def _echo_app(max_bytes: int) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    seen: list[int] = []
    app.add_middleware(BodyLimit, max_bytes=max_bytes)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"length": len(body), "sum": sum(body)}

    return app, seen


def test_a_body_within_the_limit_reaches_the_route_unchanged() -> None:
    app, seen = _echo_app(1000)
    body = bytes(range(256)) * 3
    answer = TestClient(app).post("/echo", content=body)
    assert answer.status_code == 200 and answer.json() == {"length": 768, "sum": sum(body)}
    assert seen == [768]


def test_a_declared_or_streamed_body_over_the_limit_gets_413_and_never_reaches_the_route() -> None:
    app, seen = _echo_app(1000)
    client = TestClient(app)
    declared = client.post("/echo", content=b"x" * 1001)
    assert declared.status_code == 413 and "1000 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(50):
            yield b"y" * 100

    streamed = client.post("/echo", content=chunks())
    assert streamed.status_code == 413
    assert seen == []


def test_the_read_api_and_the_callback_endpoint_are_both_limited() -> None:
    from hub.api.app import build_api
    from hub.api.callbacks import make_callback_app
    from hub.settings import Settings

    settings = Settings(api_keys="viewer-key-0123456789=viewer", api_max_bytes=100, database_url="sqlite://")
    api = TestClient(build_api(settings))
    refused = api.post("/api/v1/reconcile/dvcqg", content=b"{}" * 100, headers={"X-API-Key": "viewer-key-0123456789"})
    assert refused.status_code == 413
    callbacks = TestClient(make_callback_app(max_bytes=100))
    assert callbacks.post("/callbacks/paygov/ipn", content=b"x" * 101).status_code == 413
