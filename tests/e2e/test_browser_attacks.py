"""Real headless Chromium attacks on `switchboard up`: pages on other origins and rebound names.

The victim's browser is signed in to the console (it holds the token's cookie) before each
attack, so what stops the attack is the gateway, not a missing cookie.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.e2e.conftest import Platform, launched_chromium
from tests.ports import free_port

pytestmark = pytest.mark.browser

ATTACKER = "attacker.example"

#: What the attacker's page tries; it reports what the browser let it see.
ATTACK_JS = """async (target) => {
  const seen = {ws: [], fetch: null, noCors: null};
  await new Promise((done) => {
    let socket;
    try { socket = new WebSocket(`ws://${target}/v1/calls`); }
    catch (error) { seen.ws.push("throw " + error.name); done(); return; }
    socket.onopen = () => {
      seen.ws.push("open");
      socket.send(JSON.stringify({type: "start", agent: "acme/receptionist"}));
    };
    socket.onmessage = (message) => seen.ws.push("message " + message.data);
    socket.onerror = () => seen.ws.push("error");
    socket.onclose = (event) => { seen.ws.push("close " + event.code); done(); };
    setTimeout(done, 10000);
  });
  try {
    const response = await fetch(`http://${target}/api/calls`, {credentials: "include"});
    seen.fetch = {status: response.status, body: await response.text()};
  } catch (error) { seen.fetch = "blocked " + error.name; }
  try {
    const response = await fetch(`http://${target}/api/calls`,
                                 {credentials: "include", mode: "no-cors"});
    seen.noCors = {type: response.type, status: response.status, body: await response.text()};
  } catch (error) { seen.noCors = "blocked " + error.name; }
  return seen;
}"""


def _port(platform: Platform) -> int:
    return int(platform.running.console_url.rsplit(":", 1)[1].strip("/"))


def _call_ids(platform: Platform) -> list[str]:
    answer = httpx.get(platform.running.console_url + "api/calls", headers=platform.auth())
    answer.raise_for_status()
    return [c["callId"] for c in answer.json()["calls"]]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium that resolves attacker.example to 127.0.0.1, as a rebinding attack would."""
    with launched_chromium([f"--host-resolver-rules=MAP {ATTACKER} 127.0.0.1"]) as launched:
        yield launched


@pytest.fixture
def victim(browser: Browser, platform: Platform) -> Iterator[BrowserContext]:
    """A browser context signed in to the console, as the user's own browser is."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(platform.running.login_url)
    assert page.url == platform.running.console_url
    assert any(c["name"] == "switchboard_token" for c in context.cookies())
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def attacker_site() -> Iterator[str]:
    """Another web server on this machine (another port: the same site, another origin)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>cute cats</title><p>cats</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _assert_saw_nothing(seen: dict[str, Any]) -> None:
    assert "open" not in seen["ws"], seen
    assert not any(event.startswith("message") for event in seen["ws"]), seen
    assert seen["ws"][-1] == "close 1006", seen  # the upgrade was refused
    fetch = seen["fetch"]
    assert fetch == "blocked TypeError" or "callId" not in fetch["body"], seen
    no_cors = seen["noCors"]
    assert no_cors == "blocked TypeError" or no_cors == {
        "type": "opaque",
        "status": 0,
        "body": "",
    }, seen


def test_a_page_on_another_origin_cannot_open_a_call_or_read_calls(
    platform: Platform, victim: BrowserContext, attacker_site: str
) -> None:
    before = _call_ids(platform)
    page = victim.new_page()
    page.goto(attacker_site)
    seen = page.evaluate(ATTACK_JS, f"127.0.0.1:{_port(platform)}")
    _assert_saw_nothing(seen)
    assert _call_ids(platform) == before, "the attacker's page started no call"
    # The same page from `localhost` (another name for the console's machine) fares no better.
    seen = page.evaluate(ATTACK_JS, f"localhost:{_port(platform)}")
    _assert_saw_nothing(seen)
    assert _call_ids(platform) == before


def test_a_rebound_host_name_gets_nothing_even_with_the_token(
    platform: Platform, victim: BrowserContext
) -> None:
    before = _call_ids(platform)
    rebound = f"{ATTACKER}:{_port(platform)}"
    page = victim.new_page()

    # The attacker's page is served "by" the gateway: every answer is the refusal.
    for path in ("api/calls", f"api/calls/{before[0]}" if before else "api/agents", ""):
        response = page.goto(f"http://{rebound}/{path}")
        assert response is not None
        assert response.status == 421, path
        assert "does not serve that Host" in page.content()
    response = page.goto(f"http://{rebound}/?token={platform.running.token}")
    assert response is not None
    assert response.status == 421
    assert not [c for c in victim.cookies() if c["domain"] == ATTACKER], "no cookie for it"

    # Its scripts run on its own origin, so same-origin reads are allowed by the browser:
    # the gateway is what answers 421 to them.
    seen = page.evaluate(ATTACK_JS, rebound)
    assert "open" not in seen["ws"], seen
    assert seen["fetch"]["status"] == 421, seen
    assert "callId" not in seen["fetch"]["body"], seen
    assert _call_ids(platform) == before
