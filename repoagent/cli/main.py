"""Console entry point: commands registered, signals turned into cancellation, errors into exit codes.

Exit codes: 0 success; 1 the job ran but found no fix or failed its checks;
2 bad input or configuration (one line that names the input and what to do);
130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from rich.markup import escape

from editing.errors import EditError
from repoagent.cancel import Cancelled, CancelToken
from repoagent.cli import edit, fix, index, localize, models, sandbox  # noqa: F401  (commands register on import)
from repoagent.cli.app import app, err
from repoagent.cli.terminal import printable
from repoagent.errors import RepoagentError
from retrieval.errors import RetrievalError

CLEANUP_SECONDS = 20.0  # after the first Ctrl-C, how long cleanup may take before we quit anyway
EXIT_INTERRUPTED = 130


def _register_plugins(argv: list[str]) -> None:
    """Commands of other packages (``swebench_runner``), so this package never imports them; not read when the
    command asked for is one of ours (reading the installed packages' entry points takes a few hundredths)."""
    own = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if len(argv) > 1 and argv[1] in own - {None}:
        return
    from importlib.metadata import entry_points

    for entry in entry_points(group="repoagent.commands"):
        entry.load()(app)


def _watch_signals(cancel: CancelToken, cleanup_seconds: float = CLEANUP_SECONDS) -> None:
    """First Ctrl-C or SIGTERM: cancel, and quit anyway after ``cleanup_seconds``; a second one: quit at once.

    The handler takes no lock and raises nothing (it may run between any two
    bytecodes); the watchdog thread is started here, not in the handler.
    """

    def handler(signum: int, frame: object) -> None:
        if cancel.cancelled:
            os.write(2, b"repoagent: interrupted again; quitting without cleanup\n")
            os._exit(EXIT_INTERRUPTED)
        cancel.cancel("Ctrl-C" if signum == signal.SIGINT else "SIGTERM")
        os.write(2, b"repoagent: interrupted; cleaning up (Ctrl-C again to quit at once)\n")

    def watchdog() -> None:
        while not cancel.cancelled:
            time.sleep(cancel.POLL)
        time.sleep(cleanup_seconds)
        os.write(2, b"repoagent: cleanup took too long; quitting\n")
        os._exit(EXIT_INTERRUPTED)

    # Even when a parent started us with SIGINT ignored, as a non-interactive shell does for `cmd &`.
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    threading.Thread(target=watchdog, name="repoagent-watchdog", daemon=True).start()


def main() -> None:
    """Run the app and turn known errors into one line and an exit code."""
    cancel = CancelToken()
    _watch_signals(cancel)
    _register_plugins(sys.argv)
    try:
        app(obj=cancel)
    except (RepoagentError, RetrievalError, EditError) as exc:  # the libraries' errors are bad input: exit 2
        if cancel.cancelled:
            raise SystemExit(_interrupted()) from None
        err.print(f"[bold red]repoagent:[/] {escape(printable(str(exc)))}", highlight=False)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except (Cancelled, KeyboardInterrupt):
        raise SystemExit(_interrupted()) from None


def _interrupted() -> int:
    err.print("[bold red]repoagent:[/] interrupted")
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    main()
