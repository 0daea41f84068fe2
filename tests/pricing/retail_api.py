"""A loopback stand-in for the Azure Retail Prices API (https://prices.azure.com/api/retail/prices).

It answers with the documented JSON shape (learn.microsoft.com/rest/api/cost-management/retail-prices/
azure-retail-prices: ``BillingCurrency``, ``CustomerEntityId``, ``CustomerEntityType``, ``Items``,
``NextPageLink`` (absolute URL, null on the last page), ``Count``; each item with ``currencyCode``,
``retailPrice``, ``unitPrice``, ``armRegionName``, ``location``, ``effectiveStartDate``, ``meterId``,
``meterName``, ``productId``, ``skuId``, ``productName``, ``skuName``, ``serviceName``, ``serviceFamily``,
``unitOfMeasure``, ``type``, ``isPrimaryMeterRegion``, ``armSkuName``) and really evaluates the ``$filter``
clauses amlgen sends (serviceName, priceType, armRegionName, armSkuName), so a wrong query finds nothing.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/api/retail/prices"
REQUIRED = ("serviceName eq 'Virtual Machines'", "priceType eq 'Consumption'")


def item(size: str, region: str, price: float, *, meter: str | None = None, product: str | None = None,
         start: str = "2024-01-01T00:00:00Z", kind: str = "Consumption", unit: str = "1 Hour") -> dict[str, Any]:
    short = size.removeprefix("Standard_").replace("_", " ")
    meter = meter or short
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": region,
        "effectiveStartDate": start,
        "meterId": f"meter-{region}-{meter}",
        "meterName": meter,
        "productId": "DZH318Z0TEST",
        "skuId": "DZH318Z0TEST/0001",
        "productName": product or "Virtual Machines Test Series",
        "skuName": meter,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": unit,
        "type": kind,
        "isPrimaryMeterRegion": True,
        "armSkuName": size,
    }


@dataclass
class RetailApi:
    items: list[dict[str, Any]]
    page_size: int = 2
    fail_status: dict[str, int] = field(default_factory=dict)  # region -> HTTP status to answer with
    garbage_for: set[str] = field(default_factory=set)  # regions answered with non-JSON
    foreign_next_for: set[str] = field(default_factory=set)  # regions whose NextPageLink leaves the host
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def answer(self, query: dict[str, str]) -> tuple[int, bytes]:
        self.requests.append(query)
        flt = query.get("$filter", "")
        if not all(clause in flt for clause in REQUIRED):
            return 400, b'{"error": "filter must select Virtual Machines Consumption prices"}'
        regions = re.findall(r"armRegionName eq '([^']*)'", flt)
        sizes = set(re.findall(r"armSkuName eq '([^']*)'", flt))
        region = regions[0] if len(regions) == 1 else ""
        if region in self.fail_status:
            return self.fail_status[region], b'{"error": "nope"}'
        if region in self.garbage_for:
            return 200, b"<html>maintenance</html>"
        matching = [i for i in self.items if i["armRegionName"] == region and (not sizes or i["armSkuName"] in sizes)]
        skip = int(query.get("$skip", "0"))
        page = matching[skip:skip + self.page_size]
        more = skip + self.page_size < len(matching)
        host = "evil.example" if region in self.foreign_next_for else f"127.0.0.1:{self.port}"
        next_link = (
            f"http://{host}{PATH}?{urllib.parse.urlencode({'$filter': flt, '$skip': skip + self.page_size})}"
            if more else None
        )
        body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                "Items": page, "NextPageLink": next_link, "Count": len(page)}
        return 200, json.dumps(body).encode()


@contextmanager
def serve(api: RetailApi) -> Iterator[RetailApi]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urllib.parse.urlsplit(self.path)
            if url.path != PATH:
                status, body = 404, b"{}"
            else:
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                status, body = api.answer(query)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "7")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
