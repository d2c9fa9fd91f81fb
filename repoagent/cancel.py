"""Cancellation: a signal handler only sets a flag; the work checks it at safe points and cleans up.

A ``KeyboardInterrupt`` raised after an arbitrary bytecode can leave a lock
held (Python's ``signal`` documentation says as much), so Ctrl-C and SIGTERM
never raise one here.  ``CancelToken.cancel`` takes no lock (it only assigns
attributes), so a signal handler may call it at any moment.  Long waits (model
calls, test runs, containers) poll ``cancelled`` and raise ``Cancelled``,
which unwinds through the ordinary ``finally`` blocks that remove worktrees,
containers and processes.
"""

from __future__ import annotations

import time


class Cancelled(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM, or a caller's ``cancel``)."""


class CancelToken:
    POLL = 0.1  # seconds between checks in a wait

    def __init__(self) -> None:
        self._cancelled = False
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the run to stop; safe in a signal handler and from any thread (no lock is taken)."""
        if not self._cancelled:
            self.reason = reason
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check(self) -> None:
        """Raise ``Cancelled`` if the run was asked to stop: call at safe points."""
        if self._cancelled:
            raise Cancelled(self.reason or "cancelled")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` unless cancelled first (then raise ``Cancelled``)."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.POLL, left))
