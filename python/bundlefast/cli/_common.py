"""What every subcommand shares: exit codes, error reporting, opening a location."""

from __future__ import annotations

import ast
import difflib
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # damaged checkpoint, checkpoints that differ, a write that failed
EXIT_USAGE = 2  # bad arguments, missing files, unknown tensor names, missing extras
EXIT_INTERRUPTED = 130

# The library's path hints name a Python call; a command-line user gets the command.
_PYTHON_HINT = re.compile(r"bundlefast\.load\(('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)")


class CliError(Exception):
    """An error already phrased for the command line, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def command_with(argv: list[str], typed: str, replacement: str) -> str:
    """The command line ``argv`` with the argument ``typed`` replaced, quoted for a shell."""
    args = list(argv)
    if typed in args:
        args[args.index(typed)] = replacement
    return "`" + shlex.join(["bundlefast", *args]) + "`"


def as_command_hints(message: str, argv: list[str], typed: str) -> str:
    """Rewrite ``bundlefast.load('X')`` hints in ``message`` as this command run on X."""

    def command(match: re.Match[str]) -> str:
        return command_with(argv, typed, str(ast.literal_eval(match.group(1))))

    return _PYTHON_HINT.sub(command, message)


def exit_code(err: BaseException) -> int:
    """The exit status for an exception that reached the command line."""
    from .._frameworks import MissingExtraError
    from ..errors import BundleError, InvalidArgumentError, TensorNotFoundError

    if isinstance(err, CliError):
        return err.code
    if isinstance(err, (FileNotFoundError, MissingExtraError, InvalidArgumentError, TensorNotFoundError, re.error)):
        return EXIT_USAGE
    if isinstance(err, (BundleError, OSError, ValueError)):
        return EXIT_FAILED
    raise err


def message(err: BaseException) -> str:
    """``err`` as one line: an OSError without its ``[Errno N]`` and quoted file name."""
    if isinstance(err, OSError) and err.strerror:
        name = str(err.filename) if err.filename is not None else ""
        return err.strerror if not name or name in err.strerror else f"{name}: {err.strerror}"
    return str(err)


def open_location(location: str, argv: list[str], opener: Callable[[str], Any] | None = None) -> Any:
    """``opener(location)`` (default ``bundlefast.open``), its errors phrased for the
    command line: hints rewritten as commands (see as_command_hints)."""
    if opener is None:
        from .. import open as opener
    try:
        return opener(location)
    except (OSError, ValueError) as err:
        raise CliError(as_command_hints(message(err), argv, location), exit_code(err)) from None


def close_names(name: str, names: Iterable[str], n: int = 5) -> list[str]:
    """Up to ``n`` names that look like ``name`` (typos, or a name's last components)."""
    names = list(names)
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    tail = name.rstrip("/").rsplit("/", 1)[-1]
    close += [x for x in names if tail and tail in x.rsplit("/", 2)[-2:] and x not in close]
    return close[:n]


def format_shape(shape: Iterable[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TiB"


def warn(text: str) -> None:
    print(f"bundlefast: {text}", file=sys.stderr)
