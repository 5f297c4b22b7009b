"""`main`: parse the command line, run the command, and turn each expected failure into one line and a code.

The console script `ordering` calls `main()`. Tests call `main(argv, connect=..., pacing=...)`: `connect`
makes each service's httpx.Client (a Starlette TestClient will do; clients made by a given `connect`
belong to its caller), `pacing` bounds `tail --follow`. Output goes to sys.stdout and sys.stderr as
they are when called. The caller's token is `--token`, else $ORDERING_TOKEN, read when called.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack

import httpx

from entrypoints.cli import api, arguments, commands, tables, tokens, values
from entrypoints.cli.api import Connect, Locations, Refused, Service, Services, Unavailable
from entrypoints.cli.arguments import ExitCode
from entrypoints.cli.commands import Output, Pacing
from entrypoints.settings import Settings, SettingsError

REAL_TIME = Pacing()  # sleeps between looks, the local clock, until Ctrl-C

_COMMANDS = {
    "products": commands.products,
    "order": commands.order,
    "pay": commands.pay,
    "cancel": commands.cancel,
    "show": commands.show,
    "dlq": commands.dlq,
}


def main(
    argv: Sequence[str] | None = None, *, connect: Connect | None = None, pacing: Pacing = REAL_TIME
) -> int:
    try:
        args = arguments.parser().parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2): argparse has said why
        return done.code if isinstance(done.code, int) else ExitCode.USAGE
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        return _fail(ExitCode.USAGE, f"{error} (the services read it too)")
    output = Output(args.json)
    if args.command == "token":
        try:
            commands.token(settings, args, output)
        except tokens.TokenUnavailable as error:
            return _fail(ExitCode.USAGE, str(error))
        return ExitCode.OK
    try:
        token = _token(args.token)
    except ValueError as error:
        return _fail(ExitCode.USAGE, str(error))
    locations = Locations.from_settings(
        settings, order=args.order_url, product=args.product_url, message=args.message_url
    )
    with ExitStack() as owned:
        services = Services(locations, connect or _closed_with(owned), token)
        try:
            if args.command == "tail":
                commands.tail(services, args, output, pacing)
            else:
                _COMMANDS[args.command](services, args, output)
        except Refused as refused:
            output.problem(refused.problem.document)
            hint = tokens.hint(refused.problem, args.command, token_sent=token is not None)
            return _fail(
                ExitCode.REFUSED, str(refused), [*tables.refusal(refused.problem), *tables.indented(hint)]
            )
        except Unavailable as unavailable:
            if unavailable.document is not None:
                output.problem(unavailable.document)
            return _fail(ExitCode.UNAVAILABLE, str(unavailable))
        except KeyboardInterrupt:
            return ExitCode.INTERRUPTED
        except BrokenPipeError:  # `ordering tail -f | head`: the reader has all it wanted
            _discard_stdout()
    return ExitCode.OK


def _token(given: str | None) -> str | None:
    """The token to send: `--token` (already checked by argparse), else $ORDERING_TOKEN; none if empty."""
    if given is not None:
        return given or None
    try:
        return values.bearer_token(os.environ.get("ORDERING_TOKEN", "")) or None
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"ORDERING_TOKEN: {error}") from None


def _closed_with(owned: ExitStack) -> Connect:
    def connect_owned(service: Service) -> httpx.Client:
        return owned.enter_context(api.connect(service))

    return connect_owned


def _fail(code: ExitCode, message: str, details: Sequence[str] = ()) -> int:
    print(f"ordering: error: {message}", *details, sep="\n", file=sys.stderr)
    return code


def _discard_stdout() -> None:
    # Python flushes stdout once more at exit; into a closed pipe that would print a warning.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
