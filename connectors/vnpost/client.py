"""VNPost's BCCI order API as the hub calls it: create an order, track an item, list orders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.common.json_api import DEFAULT_MAX_BYTES, JsonApi, read_retrying
from hub.errors import UpstreamError

__all__ = ["VnpostClient"]


class VnpostClient:
    def __init__(
        self, url: str, customer_code: str, secret: str, *, timeout_s: float = 10.0, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.api = JsonApi(
            "VNPost", url, timeout_s=timeout_s, max_bytes=max_bytes, headers={"Authorization": f"Bearer {secret}"}
        )
        self.url = self.api.url
        self.customer_code = customer_code

    def create(self, order: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self.api.call(
            "POST",
            "/api/v1/orders",
            json={"CustomerCode": self.customer_code, **order},
            idempotency_key=idempotency_key,
        )

    def tracking(self, item_code: str) -> dict[str, Any]:
        body = self.api.call("GET", f"/api/v1/orders/{item_code}/tracking")
        if body.get("Status") != "100":
            raise UpstreamError(f"VNPost tracking of {item_code}: Status {body.get('Status')} {body.get('Message')}")
        return body

    def orders(self, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every order VNPost holds for the customer, page by page."""
        page = 1
        while True:
            params = {"page": page, "size": page_size}
            body = read_retrying(self.api.call, "GET", "/api/v1/orders", params=params)
            if body.get("Status") != "100" or not isinstance(body.get("Data"), list):
                raise UpstreamError(f"VNPost order list page {page}: Status {body.get('Status')} {body.get('Message')}")
            yield from (o for o in body["Data"] if isinstance(o, dict))
            if page * page_size >= int(body.get("Total") or 0) or not body["Data"]:
                return
            page += 1

    def close(self) -> None:
        self.api.close()
