"""Renders the Helm chart (``helm template``, offline, through deploy_support.render) and prints
its objects as multi-document YAML on stdout, NOTES.txt left out. Used by the Rust e2e tests to
install the chart on a real API server:

    python tests/deploy/render_chart.py --namespace NS [--release NAME] [--values JSON]

--values is a JSON object of chart values (default: none, the chart's values.yaml). Needs the
test venv (helm-python-sdk): run it with .venv/bin/python (`make venv`). Any error (bad
arguments, bad JSON, the chart refusing the values, helm-python-sdk missing) exits 1 with a
message on stderr and nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

import yaml

PROG = "render_chart.py"


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(1)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse exits 2 on a usage error; every error of this tool is exit 1.
        self.print_usage(sys.stderr)
        fail(message)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog=PROG, description="Print the rendered lambda-alias-controller chart.")
    parser.add_argument("--namespace", required=True, help="the release namespace")
    parser.add_argument("--release", default=None, help="the release name (default: lac)")
    parser.add_argument("--values", default="{}", help="chart values as a JSON object")
    args = parser.parse_args(argv)

    try:
        values = json.loads(args.values)
    except json.JSONDecodeError as exc:
        fail(f"--values is not valid JSON: {exc}")
    if not isinstance(values, dict):
        fail(f"--values must be a JSON object, not {type(values).__name__}")

    try:
        import deploy_support
    except ImportError as exc:
        fail(str(exc))

    release = args.release if args.release is not None else deploy_support.RELEASE
    try:
        objects = deploy_support.render(values, namespace=args.namespace, release=release)
    except Exception as exc:  # helm's errors come through as several exception types
        fail(f"the chart did not render: {exc}")
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True))


if __name__ == "__main__":
    main()
