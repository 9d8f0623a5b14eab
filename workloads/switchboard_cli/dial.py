"""`switchboard dial`: have an agent call a phone number through Twilio.

Asks the gateway's phone port (`POST /v1/twilio/{namespace}/{name}/calls`) to place the call and
prints the Twilio call SID. With no `--gateway`, the platform `switchboard up` runs here is used
with its token; elsewhere pass the phone port's URL and an API key of the agent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

from switchboard_api.gateway import API_KEY_ENV
from switchboard_cli.state import default_state_dir, read_running

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_REFUSED = 1, 2, 3, 5
#: The longest error text from the gateway that is printed.
_MAX_ERROR = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `switchboard dial`."""
    parser.add_argument("--agent", required=True, help="NAME or NAMESPACE/NAME")
    parser.add_argument("--to", required=True, help="the number to call, E.164 (+15551234567)")
    parser.add_argument(
        "--from",
        dest="from_",
        default=None,
        help="caller ID, E.164, a number of the Twilio account (default: channels.twilio."
        "phoneNumber)",
    )
    parser.add_argument(
        "--gateway",
        help="the phone port: http(s)://HOST:PORT (default: the one `switchboard up` runs)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV, ""),
        help=f"an API key or call token of the agent (default: ${API_KEY_ENV}, else `up`'s token)",
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="`switchboard up`'s state")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it")


def _agent_path(name: str, served: list[str]) -> str | None:
    if "/" not in name:
        matches = [key for key in served if key.split("/")[-1] == name]
        if len(matches) != 1:
            return None
        name = matches[0]
    namespace, _, agent = name.partition("/")
    if not namespace or not agent or "/" in agent:
        return None
    return f"{quote(namespace, safe='')}/{quote(agent, safe='')}"


def _post(
    url: str, body: dict[str, str], credential: str, timeout: float
) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked: http or https)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {credential}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    return status, answer if isinstance(answer, dict) else {}


def run(args: argparse.Namespace) -> int:
    """`switchboard dial`; returns the exit status."""
    target, served = args.gateway, []
    credential = next(iter(args.api_key.split()), "")
    if target is None:
        state_dir = args.state_dir or default_state_dir()
        running = read_running(state_dir)
        if running is None:
            print(
                f"switchboard dial: Switchboard is not running (nothing in {state_dir}); start "
                "it with `switchboard up`, or pass --gateway http(s)://HOST:PORT",
                file=sys.stderr,
            )
            return EXIT_NOT_RUNNING
        if not running.phone_url:
            print(
                "switchboard dial: the running Switchboard has no phone port: no agent "
                "enables channels.twilio",
                file=sys.stderr,
            )
            return EXIT_USAGE
        # `up`'s token is sent only to the platform it belongs to, never to a --gateway.
        target, served, credential = running.phone_url, running.agents, credential or running.token
    if urlsplit(target).scheme not in ("http", "https") or not urlsplit(target).netloc:
        print(
            f"switchboard dial: --gateway must be http(s)://HOST:PORT, not {target!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not credential:
        print(f"switchboard dial: give --api-key (or set ${API_KEY_ENV})", file=sys.stderr)
        return EXIT_USAGE
    path = _agent_path(args.agent, served)
    if path is None:
        known = f" (this platform serves: {', '.join(served)})" if served else ""
        print(f"switchboard dial: give --agent as NAMESPACE/NAME{known}", file=sys.stderr)
        return EXIT_USAGE
    body = {"to": args.to} | ({"from": args.from_} if args.from_ else {})
    url = f"{target.rstrip('/')}/v1/twilio/{path}/calls"
    try:
        status, answer = _post(url, body, credential, args.timeout)
    except (OSError, TimeoutError) as error:
        print(f"switchboard dial: no gateway answers at {target}: {error}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if status == 201 and isinstance(answer.get("callSid"), str):
        print(answer["callSid"])
        return 0
    error_text = str(answer.get("error") or f"HTTP {status}")[:_MAX_ERROR]
    print(f"switchboard dial: the call was not placed ({status}): {error_text}", file=sys.stderr)
    if status == 400:
        return EXIT_USAGE
    return EXIT_REFUSED if status in (401, 403) else EXIT_FAILED
