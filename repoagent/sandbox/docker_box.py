"""``DockerSandbox``: run a command in a fresh container with the code copied in.

No host folder is mounted: the working copy goes in as a tar archive.  The
network is off unless asked for; memory, CPU and process count are limited;
the tests run as a user other than root (``sandbox.user``) with every
capability dropped and no-new-privileges; /tmp is a tmpfs of a set size; the
container's writable layer is measured while it runs and the run stopped past
``sandbox.disk_limit``; its output is streamed into a bounded head and tail and
the run stopped past ``sandbox.output_mb``; the engine's own log of it has a
``max-size``.  The container is removed on every way out, Ctrl-C included,
and one that a killed run left behind is removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoagent.cancel import CancelToken
from repoagent.errors import EnvironmentBuildError, UserError
from repoagent.sandbox.capture import Capture, settle
from repoagent.sandbox.environment import VENV, EnvPlan, Step
from repoagent.sandbox.limits import MB, Limits, disk_reason, junit_reason, memory_reason, output_reason, time_reason
from repoagent.sandbox.tree import WorkTree, alive
from repoagent.testrun import JUNIT_LIMIT, JUNIT_PATH, TRIM, TestRun, parse_junit, with_junit

LABEL = "repoagent.sandbox"
# The label's value: who made the container (REPOAGENT_SANDBOX_OWNER, "1" when unset), so one test session
# can look for its own leftovers while other runs use Docker on the same machine.
OWNER_VARIABLE = "REPOAGENT_SANDBOX_OWNER"
PID_LABEL = "repoagent.pid"  # the process that made the container, and the machine it ran on
HOST_LABEL = "repoagent.host"
WATCH_EVERY = 0.5  # seconds between measures of a container's writable layer (a few ms each)
GRADING_KEEP = 64 * MB  # the head and the tail kept of a grading run's output (its parser reads all of it)


def _host() -> str:
    """This machine's boot: a process id is only meaningful on the boot that gave it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


def _labels() -> dict[str, str]:
    return {LABEL: os.environ.get(OWNER_VARIABLE) or "1", PID_LABEL: str(os.getpid()), HOST_LABEL: _host()}


BASE_REPOSITORY = "repoagent-base"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORKDIR = "/work"
# What a failure that may pass on a second try looks like in an install's output: the network's, the mirror's.
TRANSIENT = re.compile(
    r"Temporary failure in name resolution|Connection reset by peer|Read timed out|ConnectTimeoutError"
    r"|Connection timed out|RemoteDisconnected|IncompleteRead|HTTP error 50[234]|50[234] Server Error"
    r"|Hash Sum mismatch|Could not connect to|Failed to fetch http"
)


def docker_client() -> Any:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise UserError(
            f"no Docker engine answers ({exc.__class__.__name__}); start dockerd, or use --sandbox local"
        ) from None
    return client


def tar_tree(tree: Path, workdir: str = WORKDIR, owner: tuple[int, int] | None = None) -> bytes:
    """The tree as a tar archive at ``workdir``; ``owner`` (uid, gid): every entry, the folder too, is theirs."""

    def own(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if owner is not None:
            info.uid, info.gid = owner
            info.uname = info.gname = ""
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if owner is not None:
            tar.add(tree, arcname=workdir.strip("/"), recursive=False, filter=own)
        for path in sorted(tree.rglob("*")):
            rel = path.relative_to(tree)
            if rel.parts[0] == ".git":
                continue
            tar.add(path, arcname=str(Path(workdir.strip("/")) / rel), recursive=False, filter=own)
    return buf.getvalue()


def numeric_user(user: str | None) -> tuple[int, int] | None:
    """``uid:gid`` (or ``uid``) as numbers; None for root, the image's default, or a name."""
    if not user:
        return None
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()) or int(uid) == 0:
        return None
    return int(uid), int(gid or uid)


class DockerSandbox:
    name = "docker"

    def __init__(
        self,
        image: str,
        memory_mb: int = 4096,
        cpus: float = 2.0,
        pids: int = 512,
        network: bool = False,
        client: Any = None,
        install: str | None = None,
        cancel: CancelToken | None = None,
        plan: EnvPlan | None = None,
        warn: Callable[[str], None] | None = None,
        workdir: str = WORKDIR,
        prelude: str = "",
        limits: Limits | None = None,
        user: str | None = None,
        failed_builds: dict[str, str] | None = None,
    ) -> None:
        """``plan`` (or a bare ``install`` command) is baked into a cached image before tests run.

        A plan that wants another Python runs on the base image of that release
        (``repoagent-base:bullseye`` for 3.9, ``:trixie`` for 3.13) when it is here.
        ``workdir`` is where the code goes (an image with the project installed in place wants its own
        folder, ``/testbed`` in SWE-bench's images); ``prelude`` runs before each test command.
        ``user`` (uid:gid): the tests run as that user with every capability dropped; None: the image's
        user (SWE-bench's images install in place as root before each run).
        ``failed_builds`` (environment tag -> why its install failed) is its owner's memory of the installs
        that failed: a batch worker hands each instance's sandbox the same one, so a failed install is not
        tried again for every instance.
        """
        self.failed_builds = failed_builds if failed_builds is not None else {}
        self.limits = limits or Limits(memory_mb=memory_mb, cpus=cpus, pids=pids)
        self.user = user
        self.workdir = workdir
        self.prelude = prelude
        self.image = image
        self.plan = plan or (EnvPlan(None, "--install", [Step(install, "--install")], "", "") if install else None)
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.pids = pids
        self.network = network
        self.client = client or docker_client()
        self.cancel = cancel or CancelToken()
        remove_orphans(self.client)
        self._check_image(image)
        self.base = self._base_for(self.plan, warn or (lambda message: None))

    def _base_for(self, plan: EnvPlan | None, warn: Callable[[str], None]) -> str:
        """The base image whose interpreter fits ``plan``: the configured one, or its sibling for that release."""
        if plan is None or plan.python is None or plan.managed or not self.image.startswith(f"{BASE_REPOSITORY}:"):
            return self.image
        wanted = f"{BASE_REPOSITORY}:{plan.suite}"
        if wanted == self.image or self._has(wanted):
            return wanted
        warn(
            f"Python {plan.python} wanted ({plan.python_why}), but {wanted} is not here; build it with "
            f"'repoagent sandbox build-base --python {plan.python}'. Using {self.image}."
        )
        return self.image

    def _has(self, image: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(image)
        except ImageNotFound:
            return False
        return True

    def _check_image(self, image: str) -> None:
        if not self._has(image):
            raise UserError(
                f"Docker image {image!r} is not here; build the base image with 'repoagent sandbox build-base' "
                "or pass --image"
            )

    def run(
        self,
        repo: Path,
        command: str,
        rev: str | None = None,
        patch: bytes | None = None,
        timeout: float = 900,
    ) -> TestRun:
        with WorkTree(repo, rev, patch) as tree:
            archive = tar_tree(tree, self.workdir, numeric_user(self.user))
            image = self.env_image(tree, self.plan) if self.plan and self.plan.steps else self.base
            return self.run_archive(archive, command, timeout, image)

    def describe(self) -> dict[str, object]:
        """What the run's tests got: the kind, the image, the user and the limits."""
        return {
            "kind": self.name,
            "image": self.base,
            "isolated": True,
            "user": self.user or "the image's (root)",
            "network": self.network,
            "limits": self.limits.describe() | {"memory_scope": "whole container", "pids_enforced": True},
        }

    def env_key(self, tree: Path, plan: EnvPlan) -> str:
        """The environment image's tag: the base image, the interpreter, the steps and every file they read."""
        digest = hashlib.sha256(f"{self.client.images.get(self.base).id}\n{plan.python}\n".encode())
        digest.update(json.dumps([plan.install_script(), sorted(plan.env.items()), plan.venv]).encode())
        if plan.cache_key:  # the caller names the environment (a repository and version): its files do not count
            name = re.sub(r"[^a-z0-9_.-]+", "_", plan.cache_key.lower()).strip("._-")[:80]
            return f"repoagent-env:{name}-{hashlib.sha256(digest.digest() + plan.cache_key.encode()).hexdigest()[:12]}"
        for name in plan.files:
            path = tree / name
            digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
        return f"repoagent-env:{digest.hexdigest()[:16]}"

    def env_image(self, tree: Path, plan: EnvPlan) -> str:
        """The base image with the plan's install steps done, cached by ``env_key``."""
        tag = self.env_key(tree, plan)
        if self._has(tag):
            return tag
        if tag in self.failed_builds:  # the same install failed for its owner (a batch worker): not again
            raise EnvironmentBuildError(self.failed_builds[tag])
        script = plan.install_script() or "true"
        first = ""
        for attempt in (1, 2):  # a failure that looks like the network's is tried once more
            name = f"repoagent-install-{uuid.uuid4().hex[:12]}"
            try:
                container = self._create(self.base, f"set -e; {script}", network=True, name=name, env=plan.env)
                container.put_archive("/", tar_tree(tree, self.workdir))
                container.start()
                if self._wait(container, 3600) == 0:
                    changes = [f"ENV PATH={VENV}/bin:{SYSTEM_PATH}", f"ENV VIRTUAL_ENV={VENV}"] if plan.venv else []
                    container.commit(repository="repoagent-env", tag=tag.split(":", 1)[1], changes=changes)
                    return tag
                logs = container.logs().decode(errors="replace")[-3000:]
            finally:
                self._remove(name)
            if attempt == 1 and TRANSIENT.search(logs):
                first = f"(tried again: the first try failed as the network does: {TRANSIENT.search(logs)[0]})\n"
                continue
            why = f"the install step failed in {self.base} (pass --install CMD to give your own):\n{first}"
            why += f"$ {script}\n{logs}"
            self.failed_builds[tag] = why
            raise EnvironmentBuildError(why)
        raise AssertionError("unreachable")

    def _create(
        self,
        image: str,
        command: str,
        network: bool | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        tests: bool = False,
    ) -> Any:
        """A container; ``tests``: one that runs untrusted tests (the user, no capabilities, /tmp a tmpfs)."""
        from docker.types import LogConfig

        net = self.network if network is None else network
        hardening: dict[str, Any] = {}
        if tests:
            hardening["tmpfs"] = {"/tmp": f"size={self.limits.tmp_mb}m,mode=1777"}
            hardening["security_opt"] = ["no-new-privileges"]
            if numeric_user(self.user) is not None:
                hardening.update(user=self.user, cap_drop=["ALL"])
        return self.client.containers.create(
            image,
            command=["/bin/sh", "-c", command],
            working_dir=self.workdir,
            network_disabled=not net,
            network_mode="bridge" if net else "none",
            mem_limit=f"{self.limits.memory_mb}m",
            memswap_limit=f"{self.limits.memory_mb}m",
            nano_cpus=int(self.limits.cpus * 1e9),
            pids_limit=self.limits.pids,
            labels=_labels(),
            name=name,
            environment={"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", **(env or {})},
            log_config=LogConfig(type="json-file", config={"max-size": f"{self.limits.log_mb}m", "max-file": "1"}),
            **hardening,
        )

    def run_archive(
        self,
        archive: bytes,
        command: str,
        timeout: float,
        image: str | None = None,
        junit: bool = True,
        limit: int | None = TRIM,
    ) -> TestRun:
        """Run ``command`` on the code in ``archive``; ``junit``: ask pytest for JUnit XML; ``limit``: output kept
        (None: a grading run's, whose parser reads it all: up to ``GRADING_KEEP`` at each end)."""
        body = with_junit(command) if junit else command
        full = f"{self.prelude}\n{body}" if self.prelude else body
        name = f"repoagent-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        run = TestRun(command=command, exit_code=None, seconds=0.0, sandbox=self.name)
        keep = GRADING_KEEP if limit is None else max(limit, 1)
        out, err = Capture(keep), Capture(keep)
        try:
            container = self._create(image or self.image, full, name=name, tests=True)
            container.put_archive("/", archive)
            reader = self._stream(container, out, err)
            container.start()
            run.exit_code = self._watch(container, run, timeout, out, err)
            if run.exit_code is None:
                kill_if_running(container)
            elif self._layer_size(container) >= self.limits.disk_bytes:  # it wrote up to the cap and ended
                run.hit("disk", disk_reason(self.limits))
            reader.join(timeout=10)
            run.seconds = time.perf_counter() - started
            container.reload()
            if container.attrs.get("State", {}).get("OOMKilled"):
                run.hit("memory", memory_reason(self.limits))
            if junit:
                run.tests = self._junit(container, run)
        finally:
            self._remove(name)
        settle(run, out, err, self.limits, limit, read_lines=junit)
        run.killed = bool(run.limit == "memory") or (run.exit_code is not None and run.exit_code >= 128)
        return run

    def _stream(self, container: Any, out: Capture, err: Capture) -> threading.Thread:
        """A thread that reads the container's stdout and stderr as they come (attached before it starts)."""
        from docker.utils.socket import frames_iter

        api = self.client.api
        sock = api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
        api._disable_socket_timeout(sock)  # a quiet test is not a dead stream; the run's own deadline holds

        def read() -> None:
            try:
                for stream, data in frames_iter(sock, tty=False):
                    (err if stream == 2 else out).feed(data)
            except (OSError, ValueError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

        thread = threading.Thread(target=read, name=f"docker-output-{container.id[:12]}", daemon=True)
        thread.start()
        return thread

    def _watch(self, container: Any, run: TestRun, timeout: float, out: Capture, err: Capture) -> int | None:
        """The exit status, or None when the run was stopped: the deadline, the output or the disk cap."""
        import requests

        deadline = time.monotonic() + timeout
        next_measure = time.monotonic() + WATCH_EVERY
        while True:
            self.cancel.check()
            now = time.monotonic()
            if now >= deadline:
                run.hit("time", time_reason(timeout))
                return None
            if out.total + err.total > self.limits.output_bytes:
                run.hit("output", output_reason(self.limits))
                return None
            if now >= next_measure:
                next_measure = now + WATCH_EVERY
                if self._layer_size(container) > self.limits.disk_bytes:
                    run.hit("disk", disk_reason(self.limits))
                    return None
            try:
                return container.wait(timeout=max(0.2, min(0.5, deadline - now))).get("StatusCode")
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue

    def _layer_size(self, container: Any) -> int:
        """Bytes in the container's writable layer (the code copied in, and all the tests wrote outside /tmp)."""
        api = self.client.api
        try:
            info = api._result(api._get(api._url("/containers/{0}/json", container.id), params={"size": 1}), True)
        except Exception:  # noqa: BLE001 - a measure that fails is tried again at the next step
            return 0
        return int(info.get("SizeRw") or 0)

    def _junit(self, container: Any, run: TestRun) -> list:
        """The JUnit report's outcomes, read as a stream; refused past ``JUNIT_LIMIT``."""
        from docker.errors import NotFound

        try:
            stream, stat = container.get_archive(f"{self.workdir}/{JUNIT_PATH}")
        except NotFound:
            return []
        if int(stat.get("size") or 0) > JUNIT_LIMIT:
            run.hit("output", junit_reason(JUNIT_LIMIT))
            return []
        with tarfile.open(fileobj=_ChunkReader(stream), mode="r|") as tar:
            member = tar.next()
            f = tar.extractfile(member) if member else None
            return parse_junit(f) if f else []

    def image_file(self, image: str, path: str) -> bytes:
        """A file of ``image`` (empty when it has none), read from a container that never starts."""
        name = f"repoagent-read-{uuid.uuid4().hex[:12]}"
        try:
            container = self.client.containers.create(image, command=["true"], name=name, labels=_labels())
            return self._read_file(container, path)
        finally:
            self._remove(name)

    def _wait(self, container: Any, timeout: float) -> int | None:
        """The container's exit status, or None when ``timeout`` passed; checks for cancellation every second."""
        import requests

        deadline = time.monotonic() + timeout
        while True:
            self.cancel.check()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                return container.wait(timeout=max(1, min(1.0, left))).get("StatusCode")
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue

    def _remove(self, name: str) -> None:
        """Remove the container by name, even when the call that made it was interrupted."""
        from docker.errors import NotFound

        try:
            self.client.containers.get(name).remove(force=True)
        except NotFound:
            return

    @staticmethod
    def _read_file(container: Any, path: str) -> bytes:
        from docker.errors import NotFound

        try:
            stream, _ = container.get_archive(path)
        except NotFound:
            return b""
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member else None
            return f.read() if f else b""


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def remove_orphans(client: Any) -> list[str]:
    """Remove the containers of this owner that a run on this machine made and did not remove (killed with -9).

    A container whose maker is still running, or that another machine made, is left alone.
    """
    host, removed = _host(), []
    for container in leftover_containers(client):
        labels = container.labels or {}
        pid = labels.get(PID_LABEL, "")
        if labels.get(HOST_LABEL) != host or not pid.isdigit() or alive(int(pid)):
            continue
        with contextlib.suppress(Exception):
            container.remove(force=True)
            removed.append(container.name)
    return removed


def leftover_containers(client: Any) -> list[Any]:
    """The containers this owner (REPOAGENT_SANDBOX_OWNER, or anyone when unset) made and did not remove.

    One removed between the listing and the reading of its details (another thread's run ending) is skipped:
    the listing is made while other runs of this process start and end their containers."""
    owner = os.environ.get(OWNER_VARIABLE)
    wanted = {"label": f"{LABEL}={owner}" if owner else LABEL}
    return client.containers.list(all=True, filters=wanted, ignore_removed=True)


def kill_if_running(container: Any) -> None:
    """Kill a container a limit or the deadline stopped; one that ended on its own between the check and the kill
    (Docker answers 409, or it is gone) is left as it is."""
    from docker.errors import APIError, NotFound

    try:
        container.kill()
    except NotFound:
        return
    except APIError as exc:
        if exc.status_code != 409:
            raise
