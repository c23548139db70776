"""`sluice local up [--port 4566] [--api-port 3000] [--api-auth AWS_IAM|API_KEY] [--faults RATE
[--fault-seed N]] [--aws-latency [--latency-seed N]]`: deploy template.yaml into an embedded moto server
and serve it, the API behind the same authentication as on AWS, optionally with faults injected as AWS
fails calls (docs/guides/chaos.md) and calls as slow as AWS answers them (docs/guides/local-stack.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sluice.entrypoints.cli.common import EXIT_OK, CommandError, progress
from sluice.errors import SluiceError

AUTH_MODES = ("AWS_IAM", "API_KEY")  # sluice.adapters.prediction_api.MODES, not imported: it loads botocore
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("local", help="the stack on this machine, without AWS or Docker")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="deploy template.yaml into an embedded moto server and serve it")
    up.add_argument("--port", type=int, default=4566, help="port of the AWS endpoint (default 4566)")
    up.add_argument("--api-port", type=int, default=3000, help="port of the HTTP API (default 3000)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--root", type=Path, default=Path("."), help="project folder with template.yaml")
    up.add_argument("--state-file", type=Path, help="where to write the ready document (.sluice/local.json)")
    up.add_argument(
        "--api-auth",
        choices=AUTH_MODES,
        help="how API callers authenticate (default: the template's ApiAuth parameter, AWS_IAM)",
    )
    up.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as `sam deploy --parameter-overrides` takes them",
    )
    up.add_argument(
        "--iam",
        choices=["enforced", "off"],
        default="enforced",
        help="evaluate every call of the stack's principals against their IAM policies, as AWS does "
        "(default enforced); off: allow everything, as moto does",
    )
    up.add_argument(
        "--faults",
        type=fault_rate,
        default=None,
        metavar="RATE",
        help="fail this fraction (0-1) of the AWS calls the stack's functions and state machines make, "
        "as AWS fails them (throttling, 500/503, resets, read timeouts), and kill as many of the "
        "invocations Step Functions and EventBridge make, as a timeout would; logged on stderr",
    )
    up.add_argument(
        "--fault-seed", type=int, default=0, metavar="N", help="seed of which calls fail (default 0)"
    )
    up.add_argument(
        "--aws-latency",
        action="store_true",
        help="delay each AWS call of the stack's functions, state machines, Fargate task and Firehose, "
        "and each call from another process (the CLI), by a seeded draw of that operation's latency on "
        "AWS (docs/guides/local-stack.md); summed up on stderr when it stops",
    )
    up.add_argument("--latency-seed", type=int, default=0, metavar="N", help="seed of the delays (default 0)")
    up.set_defaults(func=run_up)


def fault_rate(text: str) -> float:
    """--faults RATE: a fraction between 0 and 1."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return rate


def run_up(args: argparse.Namespace) -> int:
    from sluice.entrypoints.cli.common import STATE_FILE
    from sluice.tools.local.faults import FaultInjector
    from sluice.tools.local.latency import AwsLatency
    from sluice.tools.local.server import PortInUse, serve, stop_on_sigterm

    parameters = parse_overrides(args.parameter_overrides)
    if args.api_auth:
        parameters["ApiAuth"] = args.api_auth
    root = args.root.resolve()
    if not (root / "template.yaml").is_file():
        raise CommandError(f"{root}: no template.yaml here (use --root)")

    def announce(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        progress("ready; press Ctrl-C to stop")

    try:
        with stop_on_sigterm():  # from here on SIGTERM stops it, whatever phase it is in
            progress(f"deploying {root / 'template.yaml'} into moto on {args.host}:{args.port}")
            serve(
                root,
                host=args.host,
                port=args.port,
                api_port=args.api_port,
                state_file=args.state_file or root / STATE_FILE,
                announce=announce,
                parameters=parameters,
                iam=args.iam == "enforced",
                faults=FaultInjector(args.faults, args.fault_seed) if args.faults else None,
                aws_latency=AwsLatency(args.latency_seed) if args.aws_latency else None,
            )
    except PortInUse as exc:
        raise CommandError(str(exc)) from exc
    except SluiceError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"cannot serve on {args.host}: {exc}") from exc
    except KeyboardInterrupt:
        progress("interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE strings as a dict (a value may contain '=')."""
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--parameter-overrides: expected KEY=VALUE, got {pair!r}")
        parameters[key] = value
    return parameters
