"""The ``bundlefast`` command: ls, verify, convert, diff, cat (one module each).

``bundlefast PREFIX`` (no subcommand) is ``bundlefast ls PREFIX``. Exit status: 0 done
(clean, equal), 1 damaged checkpoint or checkpoints that differ, 2 usage errors,
missing files or a missing optional package (the message says what to type instead).
Each subcommand imports what it needs when it runs, so ``--help`` and ``ls`` stay quick.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import import_module

from ..errors import BundleError
from ._common import EXIT_INTERRUPTED, EXIT_USAGE, CliError, exit_code, message

COMMANDS = ("ls", "verify", "convert", "diff", "cat")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bundlefast")
    except PackageNotFoundError:  # a source tree on PYTHONPATH: ask the extension
        from .. import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``, resolved only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"bundlefast {_version()}")
        parser.exit()


def build_parser(commands: tuple[str, ...] = COMMANDS) -> argparse.ArgumentParser:
    """The parser, with the subcommands ``commands`` (all by default). Running one command
    needs only its own module (NumPy, the convert package: what ``ls`` never imports)."""
    parser = argparse.ArgumentParser(
        prog="bundlefast",
        description="Inspect, check and convert TensorFlow checkpoints without TensorFlow.",
        epilog="`bundlefast PREFIX` is `bundlefast ls PREFIX`. `bundlefast COMMAND -h` describes a command.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        import_module(f".{name}", __name__).add_parser(subparsers)
    return parser


def normalize(argv: list[str]) -> list[list[str]]:
    """The command lines to run: the first release's ``bundlefast PREFIX [--json]
    [--verify]`` becomes ``ls PREFIX`` (then ``verify PREFIX``)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or first in COMMANDS:
        return [argv]
    if "--verify" not in argv:
        return [["ls", *argv]]
    if "--json" in argv:
        raise CliError(f"--verify is a command now: `bundlefast ls --json {first}`, then `bundlefast verify {first}`")
    return [["ls", first], ["verify", first]]


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = 0
        for command in normalize(argv):
            named = next((a for a in command if not a.startswith("-")), None)
            args = build_parser((named,) if named in COMMANDS else COMMANDS).parse_args(command)
            args.argv = command
            code = max(code, int(args.run(args)))
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `bundlefast ls P | head`: the reader left, nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 0
    except (CliError, BundleError, OSError, ValueError, ImportError, re.error) as err:
        code = exit_code(err)
        print(f"bundlefast: {message(err)}", file=sys.stderr)
        return code
    except SystemExit as stop:  # argparse: usage errors exit 2, --help exits 0
        return int(stop.code or 0) if isinstance(stop.code, int) else EXIT_USAGE
