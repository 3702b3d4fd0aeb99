"""What both command-line apps share: error handling in one place and the ``--verbose`` flag.

Used by ``owner_cli`` and ``partner_cli`` only; the library itself never imports it.
Library errors (:class:`enfo_sdk.errors.EnfoError`) and file-system errors become a one-line
``Error: ...`` with exit code 1; usage mistakes exit with 2 (click's own); Ctrl-C exits
with 130 after saying what was (not) written; a reader that closes the pipe early
(``enfo-owner inspect B | head``) ends the command quietly with 141, as Unix tools do;
``--verbose`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from .errors import EnfoError

VERBOSE = "enfo.verbose"


def app_group(interrupted_message: str):
    """A click Group class whose ``invoke`` turns errors into messages and exit codes."""

    class App(click.Group):
        def invoke(self, ctx: click.Context):
            try:
                return super().invoke(ctx)
            except EnfoError as e:
                if ctx.meta.get(VERBOSE):
                    traceback.print_exc()
                raise click.ClickException(str(e)) from e
            except BrokenPipeError:  # the reader went away (``| head``): nothing left to tell it
                _silence_stdout()
                ctx.exit(141)
            except OSError as e:  # file-system trouble outside the library's own checks
                if ctx.meta.get(VERBOSE):
                    traceback.print_exc()
                where = f"{e.filename}: " if getattr(e, "filename", None) else ""
                raise click.ClickException(f"{where}{e.strerror or e}") from e
            except KeyboardInterrupt:
                click.echo(f"\n{interrupted_message}", err=True)
                ctx.exit(130)

    return App


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (an embedding host): nothing to silence
        pass


def _set_verbose(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.meta[VERBOSE] = True


verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
    help="Show the full traceback on errors.",
)
