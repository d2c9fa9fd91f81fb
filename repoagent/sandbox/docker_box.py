"""``DockerSandbox``: run a command in a fresh container with the code copied in.

No host folder is mounted: the working copy goes in as a tar archive.  The
network is off unless asked for; memory, CPU and process count are limited;
the container is removed on every way out, Ctrl-C included.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoagent.core.cancel import CancelToken
from repoagent.core.errors import UserError
from repoagent.sandbox.environment import VENV, EnvPlan, Step
from repoagent.sandbox.protocol import EnvironmentBuildError
from repoagent.sandbox.testrun import JUNIT_PATH, TRIM, TestRun, parse_junit, trim, with_junit
from repoagent.sandbox.tree import WorkTree

LABEL = "repoagent.sandbox"
# The label's value: who made the container (REPOAGENT_SANDBOX_OWNER, "1" when unset), so one test session
# can look for its own leftovers while other runs use Docker on the same machine.
OWNER_VARIABLE = "REPOAGENT_SANDBOX_OWNER"


def _labels() -> dict[str, str]:
    return {LABEL: os.environ.get(OWNER_VARIABLE) or "1"}


BASE_REPOSITORY = "repoagent-base"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORKDIR = "/work"
_FAILED_BUILDS: dict[str, str] = {}  # environment tag -> why its install failed (per process: a batch worker)


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


def tar_tree(tree: Path, workdir: str = WORKDIR) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(tree.rglob("*")):
            rel = path.relative_to(tree)
            if rel.parts[0] == ".git":
                continue
            tar.add(path, arcname=str(Path(workdir.strip("/")) / rel), recursive=False)
    return buf.getvalue()


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
    ) -> None:
        """``plan`` (or a bare ``install`` command) is baked into a cached image before tests run.

        A plan that wants another Python runs on the base image of that release
        (``repoagent-base:bullseye`` for 3.9, ``:trixie`` for 3.13) when it is here.
        ``workdir`` is where the code goes (an image with the project installed in place wants its own
        folder, ``/testbed`` in SWE-bench's images); ``prelude`` runs before each test command.
        """
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
            archive = tar_tree(tree, self.workdir)
            image = self.env_image(tree, self.plan) if self.plan and self.plan.steps else self.base
            return self.run_archive(archive, command, timeout, image)

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
        if tag in _FAILED_BUILDS:  # the same install failed in this process: not again for every instance
            raise EnvironmentBuildError(_FAILED_BUILDS[tag])
        script = plan.install_script() or "true"
        name = f"repoagent-install-{uuid.uuid4().hex[:12]}"
        try:
            container = self._create(self.base, f"set -e; {script}", network=True, name=name, env=plan.env)
            container.put_archive("/", tar_tree(tree, self.workdir))
            container.start()
            if self._wait(container, 3600) != 0:
                logs = container.logs().decode(errors="replace")[-3000:]
                why = f"the install step failed in {self.base} (pass --install CMD to give your own):\n"
                why += f"$ {script}\n{logs}"
                _FAILED_BUILDS[tag] = why
                raise EnvironmentBuildError(why)
            changes = [f"ENV PATH={VENV}/bin:{SYSTEM_PATH}", f"ENV VIRTUAL_ENV={VENV}"] if plan.venv else []
            container.commit(repository="repoagent-env", tag=tag.split(":", 1)[1], changes=changes)
        finally:
            self._remove(name)
        return tag

    def _create(
        self,
        image: str,
        command: str,
        network: bool | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Any:
        net = self.network if network is None else network
        return self.client.containers.create(
            image,
            command=["/bin/sh", "-c", command],
            working_dir=self.workdir,
            network_disabled=not net,
            network_mode="bridge" if net else "none",
            mem_limit=f"{self.memory_mb}m",
            memswap_limit=f"{self.memory_mb}m",
            nano_cpus=int(self.cpus * 1e9),
            pids_limit=self.pids,
            labels=_labels(),
            name=name,
            environment={"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", **(env or {})},
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
        """Run ``command`` on the code in ``archive``; ``junit``: ask pytest for JUnit XML; ``limit``: output kept."""
        body = with_junit(command) if junit else command
        full = f"{self.prelude}\n{body}" if self.prelude else body
        name = f"repoagent-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        timed_out = False
        try:
            container = self._create(image or self.image, full, name=name)
            container.put_archive("/", archive)
            container.start()
            status = self._wait(container, timeout)
            if status is None:
                timed_out = True
                container.kill()
            seconds = time.perf_counter() - started
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            out = container.logs(stdout=True, stderr=False).decode("utf-8", errors="replace")
            err = container.logs(stdout=False, stderr=True).decode("utf-8", errors="replace")
            tests = parse_junit(self._read_file(container, f"{self.workdir}/{JUNIT_PATH}"))
        finally:
            self._remove(name)
        return TestRun(
            command=command,
            exit_code=status,
            seconds=seconds,
            tests=tests,
            stdout=trim(out, limit) if limit else out,
            stderr=trim(err, limit) if limit else err,
            timed_out=timed_out,
            killed=oom or (status is not None and status >= 128),
            sandbox=self.name,
        )

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


def leftover_containers(client: Any) -> list[Any]:
    """The containers this owner (REPOAGENT_SANDBOX_OWNER, or anyone when unset) made and did not remove."""
    owner = os.environ.get(OWNER_VARIABLE)
    return client.containers.list(all=True, filters={"label": f"{LABEL}={owner}" if owner else LABEL})
