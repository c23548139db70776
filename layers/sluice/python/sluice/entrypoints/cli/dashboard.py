"""`sluice dashboard`: the registry dashboard of a deployed or local stack (found as `sluice models`
finds it; AWS_ENDPOINT_URL honoured).

- `--out DIR`: build it fresh and write DIR/index.html, DIR/index.json and every page it links (model
  cards, drift reports) under the same keys, so every link works offline.
- `--open`: a pre-signed link to the page, for a browser without AWS credentials. Its own links are
  pre-signed too: the page is rendered with them and stored as dashboard/shared.html (this needs
  s3:PutObject on dashboard/*); every link expires after `--expires` seconds.
- `--json`: the dashboard's data on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.entrypoints.cli.common import EXIT_OK, CommandError, print_json, progress
from sluice.entrypoints.cli.models import add_stack_arguments, stack_deps_of, stack_outputs

if TYPE_CHECKING:
    from sluice.app.ports import StackDeps
    from sluice.domain.registry.dashboard import Dashboard

SHARED_PAGE = "dashboard/shared.html"
DEFAULT_EXPIRES = 3600


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dashboard", help="the registry dashboard: write it, open it, or print it")
    add_stack_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="write the page and the pages it links here")
    parser.add_argument("--open", action="store_true", help="print a pre-signed link to the page")
    parser.add_argument(
        "--expires", type=int, default=DEFAULT_EXPIRES, help="seconds the pre-signed links last (--open)"
    )
    parser.add_argument("--json", action="store_true", help="print the dashboard's data as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sluice.app.registry.dashboard import build_dashboard
    from sluice.entrypoints.cli.dashboard_folder import write_folder

    if not (args.out or args.open or args.json):
        raise CommandError("say what to do: --out DIR, --open or --json")
    if not 1 <= args.expires <= 7 * 24 * 3600:
        raise CommandError("--expires: between 1 second and 7 days (S3's limit for pre-signed links)")
    deps = stack_deps_of(args)
    dashboard = build_dashboard(deps)
    if args.out:
        index = write_folder(deps.artifacts, dashboard, args.out)
        count = len(dashboard.models)
        progress(f"dashboard of {count} model{'' if count == 1 else 's'} written")
        if not args.json:
            print(index)
    if args.open:
        print(_shared_link(args, deps, dashboard))
    if args.json:
        print_json(dashboard.model_dump(mode="json"))
    return EXIT_OK


def _shared_link(args: argparse.Namespace, deps: StackDeps, dashboard: Dashboard) -> str:
    """Store the page with pre-signed links to its pages and answer a pre-signed link to it."""
    from sluice.adapters import client
    from sluice.domain.reports.dashboard_html import render_dashboard

    bucket = stack_outputs(args)["ArtifactBucketName"]
    s3 = client("s3")

    def presigned(key: str) -> str:
        url: str = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=args.expires
        )
        return url

    page = render_dashboard(dashboard, presigned)
    deps.artifacts.put_bytes(SHARED_PAGE, page.encode(), "text/html")
    return presigned(SHARED_PAGE)
