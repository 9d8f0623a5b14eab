"""The Calls page shows a phone call's provider, direction and numbers, in headless Chromium.

No models: a gateway serving only the console and its API (the same HTTP code `switchboard up`
runs, behind the same sign-in), with one stored phone call and one WebSocket call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from switchboard_gateway.console.api import console_routes
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.transports.http_guard import HttpGuard
from switchboard_gateway.transports.websocket.server import start_ws_server
from tests.e2e.conftest import launched_chromium

pytestmark = pytest.mark.browser

TOKEN = "p" * 43


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(30)  # type: ignore[arg-type]

    store = SqliteCallStore(tmp_path / "calls.db")
    now = datetime.now(UTC)
    run(store.save(CallRecord("web1", "acme/desk", "websocket", now, now, "caller_hangup")))
    later = now + timedelta(seconds=1)
    phone = CallRecord(
        "tel1", "acme/desk", "twilio", later, later, "transferred",
        phone_provider="twilio", phone_call_sid="CA42", phone_from="+15550001111",
        phone_to="+15550002222", phone_direction="inbound",
    )  # fmt: skip
    run(store.save(phone))
    gateway = Gateway({}, store=store)

    async def serve() -> object:
        return await start_ws_server(
            gateway,
            "127.0.0.1",
            0,
            extra_routes=console_routes(gateway),
            guard=HttpGuard.build(token=TOKEN),
        )

    server = run(serve())
    port = next(iter(server.sockets)).getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()  # type: ignore[attr-defined]
        run(server.wait_closed())  # type: ignore[attr-defined]
        run(store.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium([]) as launched:
        yield launched


def test_the_calls_page_lists_and_shows_a_phone_calls_provider_direction_and_numbers(
    console: str, browser: Browser
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{console}/?token={TOKEN}")
    page.goto(f"{console}/#calls")
    line = "twilio inbound: +15550001111 → +15550002222"
    phone_row = page.locator("#calls tbody tr").filter(has=page.locator('[data-call="tel1"]'))
    expect(phone_row.locator("td.phone")).to_have_text(line)
    web_row = page.locator("#calls tbody tr").filter(has=page.locator('[data-call="web1"]'))
    expect(web_row.locator("td.phone")).to_have_text("")

    page.locator('#calls tbody button[data-call="tel1"]').click()
    expect(page.locator("#call-phone")).to_be_visible()
    expect(page.locator("#call-phone")).to_have_text(f"Phone call ({line}), call id CA42")

    page.locator('#calls tbody button[data-call="web1"]').click()
    expect(page.locator("#call-detail-heading")).to_contain_text("Call web1")
    expect(page.locator("#call-phone")).to_be_hidden()
    assert errors == []
