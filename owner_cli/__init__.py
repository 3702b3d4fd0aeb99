"""``enfo-owner``: the console script's entry point, :func:`main`.

It imports the click app (and with it torch, which takes seconds) inside a guard, so that
Ctrl-C at any moment -- even while the imports run -- ends with one line and exit code 130
instead of a traceback; once the app runs, :mod:`enfo_sdk.cli_support` handles Ctrl-C itself.
"""

import sys


def main() -> None:
    """Run ``enfo-owner`` (what the console script calls)."""
    try:
        from .main import cli
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    cli()
