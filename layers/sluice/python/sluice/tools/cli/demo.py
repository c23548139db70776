"""`sluice demo [--out DIR] [--port P --api-port Q]`: the whole loop on the local stack, as a story."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, CommandError, print_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=(
            "run the whole loop on the local stack: train, promote, serve, reject, drift, retrain, roll back, "
            "concept drift with feedback, manual approval"
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (demo-output)")
    parser.add_argument("--port", type=int, default=4566, help="port of the AWS endpoint (default 4566)")
    parser.add_argument("--api-port", type=int, default=3000, help="port of the HTTP API (default 3000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder with template.yaml")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sluice.errors import SluiceError
    from sluice.tools.demo import DemoError, run_demo

    root = args.root.resolve()
    if not (root / "template.yaml").is_file():
        raise CommandError(f"{root}: no template.yaml here (use --root)")
    out = args.out.resolve()
    # With --json the story goes to stderr, so stdout carries only the summary.
    stream = sys.stderr if args.json else sys.stdout
    try:
        summary = run_demo(root, out, host=args.host, port=args.port, api_port=args.api_port, stream=stream)
    except DemoError as exc:
        raise CommandError(f"{exc} (handler logs: {out / 'stack.log'})", EXIT_FAILED) from exc
    except SluiceError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"cannot serve on {args.host}:{args.port} / {args.api_port}: {exc}") from exc
    if args.json:
        print_json(summary.model_dump(mode="json"))
    return EXIT_OK
