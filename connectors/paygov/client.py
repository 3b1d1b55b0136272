"""PayGov's merchant API as the hub calls it: INIT, QUERY and the settlement statement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.common.json_api import DEFAULT_MAX_BYTES, JsonApi, read_retrying
from hub.errors import UpstreamError

__all__ = ["PayGovClient"]


class PayGovClient:
    def __init__(
        self, url: str, merchant_code: str, secret: str, *, timeout_s: float = 10.0, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.api = JsonApi(
            "PayGov",
            url,
            timeout_s=timeout_s,
            max_bytes=max_bytes,
            headers={"X-Merchant-Code": merchant_code, "X-Merchant-Key": secret},
        )
        self.url = self.api.url

    def init(self, ref: str, amount_vnd: int, dossier_code: str, description: str) -> dict[str, Any]:
        """Start a payment; the reference is its idempotency key (INIT again: the same answer)."""
        body = {"MaThamChieu": ref, "SoTien": amount_vnd, "MaHoSo": dossier_code, "NoiDung": description}
        return self.api.call("POST", "/api/v1/khoitao", json=body, idempotency_key=ref)

    def query(self, ref: str) -> dict[str, Any]:
        return self.api.call("POST", "/api/v1/truyvan", json={"MaThamChieu": ref})

    def statement(self, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every transaction the gateway holds for the merchant, page by page."""
        page = 1
        while True:
            params = {"trang": page, "so_ban_ghi": page_size}
            body = read_retrying(self.api.call, "GET", "/api/v1/doisoat", params=params)
            if body.get("MaLoi") != "00" or not isinstance(body.get("DuLieu"), list):
                raise UpstreamError(f"PayGov statement page {page}: MaLoi {body.get('MaLoi')} {body.get('MoTa')}")
            yield from (t for t in body["DuLieu"] if isinstance(t, dict))
            if page * page_size >= int(body.get("TongSo") or 0) or not body["DuLieu"]:
                return
            page += 1

    def close(self) -> None:
        self.api.close()
