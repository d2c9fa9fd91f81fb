"""What a pool process runs first: its life tied to the driver's before anything heavy is imported.

A spawned pool process imports the pipeline (litellm, the sandboxes, retrieval) before it can run a job:
seconds on a loaded machine.  Tying its death to the driver's (``PR_SET_PDEATHSIG``) only after those imports
left a driver killed meanwhile with workers that lived on until their imports ended; so the initialiser lives
here, imports nothing heavy, and gets the run's configuration as bytes it unpickles only once tied.
"""

from __future__ import annotations

import os
import pickle
import signal


def init_process(config: bytes) -> None:
    """Initialiser of a pool process: die with the driver (even on kill -9), then make the worker once."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: the driver's death is ours
    if os.getppid() == 1:  # the driver died before that line
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver decides
    from swebench_runner.run.worker import start_worker

    start_worker(pickle.loads(config))
