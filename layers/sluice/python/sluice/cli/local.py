"""`sluice local up [--port 4566]`: deploy template.yaml into an embedded moto server and serve it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sluice.cli.common import EXIT_OK, CommandError, progress
from sluice.errors import SluiceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("local", help="the stack on this machine, without AWS or Docker")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="deploy template.yaml into an embedded moto server and serve it")
    up.add_argument("--port", type=int, default=4566, help="port of the AWS endpoint (default 4566)")
    up.add_argument("--api-port", type=int, default=3000, help="port of the HTTP API (default 3000)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--root", type=Path, default=Path("."), help="project folder with template.yaml")
    up.add_argument("--state-file", type=Path, help="where to write the ready document (.sluice/local.json)")
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace) -> int:
    from sluice.local.server import STATE_FILE, serve

    root = args.root.resolve()
    if not (root / "template.yaml").is_file():
        raise CommandError(f"{root}: no template.yaml here (use --root)")
    progress(f"deploying {root / 'template.yaml'} into moto on {args.host}:{args.port}")

    def announce(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        progress("ready; press Ctrl-C to stop")

    try:
        serve(
            root,
            host=args.host,
            port=args.port,
            api_port=args.api_port,
            state_file=args.state_file or root / STATE_FILE,
            announce=announce,
        )
    except SluiceError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    return EXIT_OK
