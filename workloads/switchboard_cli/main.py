"""Switchboard: real-time voice AI agents on Kubernetes, or on this machine with `up`.

Imports are made where a command needs them, so Ctrl-C however early ends in one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CRD_DIRS = (Path("crds"), Path("charts/switchboard/crds"))


def _crds(args: argparse.Namespace) -> int:
    from switchboard_api.chartgen import stale_chart_files, write_chart_files
    from switchboard_api.crdgen import stale_crds, write_crds

    directories = [Path(d) for d in args.out] if args.out else list(DEFAULT_CRD_DIRS)
    chart_generated = not args.out  # --out writes CRDs only
    if args.check:
        stale = stale_crds(directories) + (stale_chart_files() if chart_generated else [])
        for path in stale:
            print(f"stale or missing: {path}", file=sys.stderr)
        if stale:
            print("run `switchboard crds` to regenerate", file=sys.stderr)
            return 1
        where = ", ".join(map(str, directories))
        print(f"CRDs (and the chart's values, schema, RBAC) up to date in {where}")
        return 0
    for path in write_crds(directories) + (write_chart_files() if chart_generated else []):
        print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from switchboard_api.manifests import ManifestError, load_manifests

    try:
        loaded = load_manifests(Path(p) for p in args.paths)
    except ManifestError as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    for item in loaded:
        meta = item.resource.metadata
        where = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        print(f"valid: {item.path}: {item.resource.kind} {where}")
    if not loaded:
        print("no manifests found", file=sys.stderr)
        return 1
    return 0


def _up(args: argparse.Namespace) -> int:
    from switchboard_cli import up  # imports Ray: only for the commands that need it

    return up.run(args)


def _call(args: argparse.Namespace) -> int:
    from switchboard_cli import call

    return call.run(args)


def _dial(args: argparse.Namespace) -> int:
    from switchboard_cli import dial

    return dial.run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `switchboard` command."""
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    crds = commands.add_parser(
        "crds",
        help="generate the CRD YAML and the chart's values, schema and RBAC from the API models",
    )
    crds.add_argument(
        "--out",
        action="append",
        metavar="DIR",
        help="directory to write (repeatable; default: crds/ and charts/switchboard/crds/)",
    )
    crds.add_argument("--check", action="store_true", help="fail if committed CRDs are stale")
    crds.set_defaults(handler=_crds)

    validate = commands.add_parser("validate", help="validate Switchboard manifests offline")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories")
    validate.set_defaults(handler=_validate)

    from switchboard_cli.call import add_arguments as call_arguments
    from switchboard_cli.up import add_arguments as up_arguments

    up = commands.add_parser(
        "up", help="run agents on this machine: models, gateway and web console, no cluster"
    )
    up_arguments(up)
    up.set_defaults(handler=_up)

    call = commands.add_parser("call", help="call an agent from the terminal (WAV or text)")
    call_arguments(call)
    call.set_defaults(handler=_call)

    from switchboard_cli.dial import add_arguments as dial_arguments

    dial = commands.add_parser("dial", help="have an agent call a phone number through Twilio")
    dial_arguments(dial)
    dial.set_defaults(handler=_dial)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    try:
        args = build_parser().parse_args(argv)
        code: int = args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C before a command set up its own handling
        print("\ninterrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
