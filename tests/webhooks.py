"""A local webhook server that verifies Standard-Webhooks signatures, for tool tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from switchboard_gateway.tools.webhooks import MAX_RESULT_BYTES

SECRET = "whsec_" + base64.b64encode(b"a-very-secret-signing-key").decode()
ENV = {"SWITCHBOARD_SECRET_TOOLS_WEATHER": SECRET}
flaky_calls: list[int] = []
#: What each GET or DELETE to `/lookup` carried: method, query arguments, tool, call id.
query_calls: list[tuple[str, dict[str, str], str, str]] = []


class Webhook(BaseHTTPRequestHandler):
    """Verifies Standard-Webhooks signatures and answers by path."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode()
        expected = base64.b64encode(hmac.new(key, signed + body, hashlib.sha256).digest())
        signature = self.headers.get("webhook-signature", "")
        if self.path == "/weather" and signature != "v1," + expected.decode():
            return self._answer(401, b'{"error": "bad signature"}')
        if abs(time.time() - int(self.headers["webhook-timestamp"])) > 300:
            return self._answer(401, b'{"error": "stale"}')
        request = json.loads(body)
        if self.path == "/weather":
            city = request["arguments"]["city"]
            return self._answer(200, json.dumps({"city": city, "forecast": "sunny"}).encode())
        if self.path == "/slow":
            time.sleep(1.5)
            return self._answer(200, b"{}")
        if self.path == "/huge":
            return self._answer(200, b'"' + b"x" * (MAX_RESULT_BYTES + 10) + b'"')
        if self.path == "/html":
            return self._answer(200, b"<html>")
        if self.path == "/flaky":
            flaky_calls.append(1)
            return self._answer(503 if len(flaky_calls) == 1 else 200, b'{"ok": true}')
        return self._answer(404, b"{}")

    def do_GET(self) -> None:
        self._query_request()

    def do_DELETE(self) -> None:
        self._query_request()

    def _query_request(self) -> None:
        """GET and DELETE: the signature covers the raw query string; no body is expected."""
        query = urlsplit(self.path).query
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.{query}"
        expected = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())
        if self.headers.get("webhook-signature", "") != "v1," + expected.decode():
            return self._answer(401, b'{"error": "bad signature"}')
        if self.headers.get("content-length", "0") != "0":
            return self._answer(400, b'{"error": "a body was sent"}')
        arguments = dict(parse_qsl(query, keep_blank_values=True))
        tool, call = self.headers["switchboard-tool"], self.headers["switchboard-call-id"]
        query_calls.append((self.command, arguments, tool, call))
        return self._answer(200, json.dumps({"received": arguments}).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def webhook_server() -> Iterator[str]:
    """Serve `Webhook` on a free loopback port; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
