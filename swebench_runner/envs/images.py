"""Environment images built here from the official specs, shared by local grading and the batch run's tests.

``Environments.get(repo, version, env_commit)`` builds (or finds) the image of
one repository and version, at most once across processes (a lock file per
image), and keeps a record beside it: built or failed, why, the Python chosen
and every pin that had to move.  A failed environment is remembered (delete its
record under ``CACHE/swebench/environments`` to try again) and nothing is graded
in it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repoagent.cancel import CancelToken
from repoagent.config import SandboxSettings
from repoagent.errors import EnvironmentBuildError, UserError
from repoagent.locks import file_lock
from retrieval.git import git
from swebench_runner.data.checkout import Mirrors, sealed_copy
from swebench_runner.envs.specs import INSTALL_FILES, RECORD, TESTBED, SpecEnvironment, make_env_spec, spec_for

if TYPE_CHECKING:  # docker is imported when a sandbox is made, not with this module
    from repoagent.sandbox.docker_box import DockerSandbox
    from repoagent.sandbox.environment import EnvPlan

BASE = "repoagent-base:bookworm"


@dataclass
class EnvRecord:
    """What became of one environment image."""

    key: str
    repo: str
    version: str
    status: str  # built, failed, unsupported, no spec
    reason: str = ""
    python: str = ""
    python_why: str = ""
    uploaded_before: str = ""  # the packages as PyPI had them then
    image: str = ""
    changes: list[dict[str, str]] = field(default_factory=list)  # pins moved: requirement, installed, why
    missing_files: list[str] = field(default_factory=list)  # files the mirror could not give at the env commit
    install_digest: str = ""  # of the files its install read: an instance with the same ones needs no layer
    system_packages: list[str] = field(default_factory=list)  # Debian packages the build added to the base image
    seconds: float = 0.0

    @property
    def built(self) -> bool:
        return self.status == "built"


class Environments:
    """Builds and remembers environment images; ``box`` gives a sandbox that runs in one."""

    def __init__(
        self,
        specs: dict[str, Any] | Callable[[], dict[str, Any]],
        mirrors: Mirrors,
        sandbox: SandboxSettings,
        root: Path,
        cancel: CancelToken | None = None,
    ) -> None:
        self._specs = specs  # or how to load them, when the first environment is wanted
        self.mirrors = mirrors
        self.sandbox = sandbox
        self.root = Path(root)
        self.cancel = cancel or CancelToken()
        self._seen: dict[str, tuple[EnvRecord, SpecEnvironment | None]] = {}
        self.failed_builds: dict[str, str] = {}  # instance layers whose install failed here: not tried again

    @property
    def specs(self) -> dict[str, Any]:
        if callable(self._specs):
            self._specs = self._specs()
        return self._specs

    def environment(self, repo: str, version: str, env_commit: str) -> SpecEnvironment | None:
        spec = spec_for(self.specs, repo, version)
        if spec is None:
            return None
        mirror = self.mirrors.ensure(repo, env_commit)

        def show(path: str) -> str:
            proc = git(mirror, "show", f"{env_commit}:{path}")
            return proc.stdout.decode(errors="replace") if proc.returncode == 0 else ""

        date = git(mirror, "show", "-s", "--format=%cI", env_commit).stdout.decode().strip()
        setup = show("setup.cfg") + show("setup.py")
        conda = ("", "")
        if spec.get("packages") == "environment.yml":  # the first of the official paths the commit has
            found = [(p, show(p)) for p in spec.get("environment_paths") or ["environment.yml"]]
            conda = next(((p, text) for p, text in found if text.strip()), ("", ""))
        return make_env_spec(repo, version, spec, show("pyproject.toml"), setup, date, conda)

    def get(self, repo: str, version: str, env_commit: str) -> tuple[EnvRecord, SpecEnvironment | None]:
        """The environment of ``repo`` at ``version``: built now, found, or failed (with the reason)."""
        memo = f"{repo}@{version}@{env_commit}"
        if memo in self._seen:
            return self._seen[memo]
        env = self.environment(repo, version, env_commit)
        if env is None:
            why = f"no official spec for {repo}@{version}"
            record = EnvRecord(f"{repo}@{version}", repo, str(version), "no spec", why)
            self._seen[memo] = (record, None)
            return record, None
        path = self.root / f"{env.key}.json"
        with file_lock(self.root / f"{env.key}.lock"):
            record = self._read(path)
            if record is None or (record.built and not self._has_image(record.image)):
                record = self._build(env, env_commit)
                path.write_text(json.dumps(asdict(record), indent=1))
        self._seen[memo] = (record, env)
        return record, env

    def _read(self, path: Path) -> EnvRecord | None:
        try:
            return EnvRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _has_image(self, image: str) -> bool:
        from repoagent.sandbox.docker_box import docker_client

        try:
            docker_client().images.get(image)
        except Exception:
            return False
        return True

    def _build(self, env: SpecEnvironment, env_commit: str) -> EnvRecord:
        record = EnvRecord(env.key, env.repo, env.version, "failed", python=env.python, python_why=env.python_why)
        record.uploaded_before = env.uploaded_before
        record.system_packages = env.system_packages
        why = env.unsupported()
        if why:
            record.status, record.reason = "unsupported", why
            return record
        started = time.monotonic()
        box = self.box(env, env.plan("true"))
        mirror = self.mirrors.ensure(env.repo, env_commit)
        with tempfile.TemporaryDirectory(prefix="repoagent-env-") as tmp:
            sealed = sealed_copy(mirror, env_commit, Path(tmp) / "repo")
            record.missing_files = sealed.missing
            try:
                from repoagent.sandbox.tree import WorkTree

                with WorkTree(sealed.path, sealed.commit) as tree:
                    record.image = box.env_image(tree, box.plan)
            except EnvironmentBuildError as exc:
                record.reason = _last_lines(str(exc))
                record.seconds = round(time.monotonic() - started, 1)
                return record
        changes = box.image_file(record.image, RECORD).decode(errors="replace")
        record.changes = [json.loads(line) for line in changes.splitlines() if line.strip()]
        record.install_digest = self.install_digest(env.repo, env_commit)[0]
        record.status = "built"
        record.seconds = round(time.monotonic() - started, 1)
        return record

    def install_digest(self, repo: str, commit: str) -> tuple[str, list[str]]:
        """The hash of the files an install reads at ``commit`` (setup.py, setup.cfg, pyproject.toml, requirement
        files at the top), and their names."""
        mirror = self.mirrors.ensure(repo, commit)
        listed = git(mirror, "ls-tree", "--name-only", commit).stdout.decode(errors="replace").split("\n")
        names = sorted(n for n in listed if INSTALL_FILES.match(n))
        digest = hashlib.sha256()
        for name in names:
            digest.update(name.encode() + b"\0" + git(mirror, "show", f"{commit}:{name}").stdout + b"\0")
        return digest.hexdigest(), names

    def instance_box(self, env: SpecEnvironment, record: EnvRecord, commit: str, command: str) -> DockerSandbox:
        """The sandbox an instance at ``commit`` runs in: the environment image, with a layer of the project's
        install at that commit (as the official harness installs it in the instance's image) where its install
        files differ from the environment commit's; the layer is cached by their contents."""

        digest, names = self.install_digest(env.repo, commit)
        plan = env.layer_plan(command, names)
        if digest == record.install_digest:
            plan.steps = []  # the environment image was installed from the same files
        return self._sandbox(record.image, plan, env)

    def box(self, env: SpecEnvironment, plan: EnvPlan) -> DockerSandbox:
        """The sandbox that builds ``env``'s image, on the base image of its Debian release."""
        from repoagent.sandbox.docker_box import BASE_REPOSITORY

        s = self.sandbox
        box = self._sandbox(s.image if s.image.startswith(f"{BASE_REPOSITORY}:") else BASE, plan, env)
        if not box.base.endswith(f":{plan.suite}"):
            raise UserError(
                f"{env.repo} {env.version} wants Python {env.python}: build its base image first with "
                f"'repoagent sandbox build-base --python {env.python}'"
            )
        return box

    def _sandbox(self, image: str, plan: EnvPlan, env: SpecEnvironment) -> DockerSandbox:
        """A Docker sandbox on ``image`` with the code at /testbed installed in place before each run; the
        network as ``sandbox.network`` says (off by default; the official harness leaves it on)."""
        from repoagent.sandbox.docker_box import DockerSandbox

        s = self.sandbox
        return DockerSandbox(
            image, s.memory_mb, s.cpus, s.pids, s.network, cancel=self.cancel, plan=plan,
            workdir=TESTBED, prelude=env.prelude(), failed_builds=self.failed_builds,
        )  # fmt: skip


def _last_lines(text: str, keep: int = 12) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:2] + (["..."] if len(lines) > keep + 2 else []) + lines[2:][-keep:])
