from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from repoagent.sandbox.docker_box import DockerSandbox, leftover_containers
from tests.support.cli_helpers import run_cli
from tests.support.sandbox_fixtures import FIX, make_calc, require_docker

IMAGE = "repoagent-base:bookworm"
CMD = "python3 -m pytest -q -p no:cacheprovider"


@pytest.fixture()
def client():
    client = require_docker()
    yield client
    assert leftover_containers(client) == []  # no container is left behind, whatever happened


@pytest.fixture()
def calc(tmp_path: Path) -> Path:
    return make_calc(tmp_path / "calc")


def box(client, **kw) -> DockerSandbox:
    return DockerSandbox(IMAGE, client=client, **{"memory_mb": 512, "cpus": 1.0, "pids": 64, **kw})


def test_tests_run_in_a_container_with_and_without_the_patch(client, calc: Path, tmp_path: Path) -> None:
    install = "python3 -m pip install -q pytest"
    sandbox = box(client, install=install)
    before = sandbox.run(calc, CMD, timeout=300)
    outcomes = {t.name.split("::")[-1]: t.outcome for t in before.tests}
    assert outcomes == {"test_add": "passed", "test_mul": "failed"}, before.stdout + before.stderr
    after = sandbox.run(calc, CMD, patch=FIX, timeout=300)
    assert after.exit_code == 0 and after.passed == 2
    key = sandbox.env_key(calc, sandbox.plan)
    assert any(key in img.tags for img in client.images.list())  # the install step, baked into an image
    images = {img.id for img in client.images.list()}
    third = sandbox.run(calc, CMD, timeout=300)
    assert third.passed == 1 and {img.id for img in client.images.list()} == images  # reused: no new image
    assert "a + b  # bug" in (calc / "calc/ops.py").read_text()


def test_network_is_off_inside(client, calc: Path) -> None:
    code = (
        "import os, socket\n"
        "print('interfaces', sorted(os.listdir('/sys/class/net')))\n"
        "try:\n    socket.create_connection(('pypi.org', 443), timeout=5)\n    print('CONNECTED')\n"
        "except OSError as exc:\n    print('blocked', type(exc).__name__)\n"
    )
    run = box(client).run(calc, f'python3 -c "{code}"', timeout=60)
    assert "interfaces ['lo']" in run.stdout and "blocked" in run.stdout and "CONNECTED" not in run.stdout


def test_infinite_loop_is_killed_at_the_limit(client, calc: Path) -> None:
    started = time.monotonic()
    run = box(client).run(calc, "python3 -c 'while True: pass'", timeout=5)
    assert run.timed_out and time.monotonic() - started < 60


def test_memory_bomb_is_contained(client, calc: Path) -> None:
    bomb = "python3 -c \"x = []\nwhile True: x.append(b'x' * 10**7)\""
    run = box(client, memory_mb=128).run(calc, bomb, timeout=60)
    assert not run.timed_out and run.killed and run.exit_code == 137


def test_fork_bomb_is_contained(client, calc: Path) -> None:
    bomb = (
        "import subprocess\nstarted = 0\nfor i in range(300):\n    try:\n"
        "        subprocess.Popen(['sleep', '30'])\n        started += 1\n"
        "    except OSError:\n        break\nprint('started', started)\n"
    )
    run = box(client, pids=64).run(calc, f'python3 -c "{bomb}"', timeout=60)
    started = int(run.stdout.split("started")[-1])
    assert 0 < started < 64, run.stdout + run.stderr


def test_writes_stay_inside_the_container(client, calc: Path) -> None:
    marker = f"/tmp/repoagent-escape-{uuid.uuid4().hex}"
    run = box(client).run(calc, f"echo hi > {marker} && echo changed > calc/ops.py && cat {marker}", timeout=60)
    assert run.stdout.strip() == "hi"
    assert not Path(marker).exists()
    assert "a + b  # bug" in (calc / "calc/ops.py").read_text()


def test_missing_image_is_a_clear_error(client) -> None:
    from repoagent.errors import UserError

    with pytest.raises(UserError, match="repoagent sandbox build-base"):
        DockerSandbox("repoagent-no-such-image:latest", client=client)


def test_cli_test_json_and_interrupt_leaves_nothing(client, calc: Path, tmp_path: Path) -> None:
    out = run_cli(
        "test",
        "--repo",
        str(calc),
        "--sandbox",
        "docker",
        "--test-cmd",
        CMD,
        "--install",
        "python3 -m pip install -q pytest",
        "--json",
        "--timeout",
        "120",
        home=tmp_path,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 1 and summary["exit_code"] == 1 and not summary["timed_out"]  # test_mul fails
    assert (summary["passed"], summary["failed"], summary["errors"]) == (1, 1, 0), summary
    assert leftover_containers(client) == []
    # Ctrl-C while the container runs: the container goes away with the process.
    exe = Path(sys.executable).with_name("repoagent")
    env = {**os.environ, "REPOAGENT_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [str(exe), "test", "--repo", str(calc), "--sandbox", "docker", "--test-cmd", "sleep 120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not leftover_containers(client) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftover_containers(client), "the container never started"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err


def test_a_batch_run_names_its_environment_image_by_repository_and_version(tmp_path: Path) -> None:
    from repoagent.sandbox.docker_box import DockerSandbox
    from repoagent.sandbox.environment import EnvPlan, Step

    require_docker()
    box = DockerSandbox("repoagent-base:bookworm")
    one, two = tmp_path / "one", tmp_path / "two"
    for tree, pins in ((one, "six==1.16.0\n"), (two, "six==1.17.0\n")):
        tree.mkdir()
        (tree / "requirements.txt").write_text(pins)

    def plan(key: str | None) -> EnvPlan:
        steps = [Step("pip install -r requirements.txt", "requirements.txt")]
        return EnvPlan("3.11", "default", steps, "pytest", "default", files=["requirements.txt"], cache_key=key)

    # by default the files the install reads are in the key: two commits, two images
    assert box.env_key(one, plan(None)) != box.env_key(two, plan(None))
    # a batch run names the environment (repository@version): one image for every instance of that version
    assert box.env_key(one, plan("acme/x@1.0")) == box.env_key(two, plan("acme/x@1.0"))
    assert box.env_key(one, plan("acme/x@1.0")) != box.env_key(one, plan("acme/x@1.1"))


def test_an_install_that_fails_as_the_network_does_is_tried_once_more_and_another_failure_is_not(
    tmp_path: Path,
) -> None:
    """A build that fails with a network error (a reset connection, a mirror's 503) runs once more before the
    environment is failed, and says so; a failure of another kind fails at once."""
    require_docker()
    import uuid

    from repoagent.errors import EnvironmentBuildError
    from repoagent.sandbox.docker_box import DockerSandbox
    from repoagent.sandbox.environment import EnvPlan, Step

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    for said, retried in (("Connection reset by peer", True), ("no matching distribution", False)):
        # each try is a fresh container of the same tree: a step that fails fails both times
        step = Step(f"echo 'try: {said}'; false", "an install that fails")
        plan = EnvPlan("3.11", "test", [step], "true", "test", cache_key=f"retry-{uuid.uuid4().hex[:8]}")
        box = DockerSandbox("repoagent-base:bookworm", 512, 1.0, 64, False, plan=plan)
        with pytest.raises(EnvironmentBuildError) as failed:
            box.env_image(tree, plan)
        assert ("tried again: the first try failed as the network does" in str(failed.value)) == retried, said


def test_a_failed_install_is_remembered_by_its_owner_not_by_the_process(tmp_path: Path) -> None:
    """Sandboxes that share their owner's ``failed_builds`` (a batch worker's instances) do not build a failed
    install again; a sandbox with a memory of its own tries it."""
    require_docker()
    import uuid

    from repoagent.errors import EnvironmentBuildError
    from repoagent.sandbox.docker_box import DockerSandbox
    from repoagent.sandbox.environment import EnvPlan, Step

    tree = tmp_path / "tree"
    tree.mkdir()
    step = Step("echo no such index; false", "an install that fails")
    plan = EnvPlan("3.11", "test", [step], "true", "test", cache_key=f"memo-{uuid.uuid4().hex[:8]}")
    shared: dict[str, str] = {}

    def build(memory: dict[str, str] | None) -> tuple[str, int]:
        """Why the build failed, and how many containers it made."""
        box = DockerSandbox("repoagent-base:bookworm", 512, 1.0, 64, False, plan=plan, failed_builds=memory)
        made, create = [], box._create
        box._create = lambda *a, **k: made.append(a) or create(*a, **k)  # type: ignore[method-assign]
        with pytest.raises(EnvironmentBuildError) as failed:
            box.env_image(tree, plan)
        return str(failed.value), len(made)

    first, made = build(shared)
    (tag,) = shared  # the owner remembers the failed tag and why
    assert "no such index" in first and shared[tag] == first and made == 1
    assert build(shared) == (first, 0)  # from the owner's memory: the same reason, no container made
    assert build(None) == (first, 1) and len(shared) == 1  # a sandbox with a memory of its own builds again


def test_a_container_that_ended_before_the_kill_is_left_as_it_is() -> None:
    """A disk or output limit found as the tests end: the kill meets a stopped container (Docker's 409), which
    is not an error of the run (the hostile repository's disk filler ended a run in a traceback here)."""
    client = require_docker()
    from docker.errors import NotFound

    from repoagent.sandbox.docker_box import kill_if_running

    container = client.containers.create("repoagent-base:bookworm", ["true"], labels={"repoagent": "1"})
    try:
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        kill_if_running(container)  # not running: left as it is
        container.remove()
        kill_if_running(container)  # gone: left as it is
    finally:
        try:
            container.remove(force=True)
        except NotFound:
            pass


def test_a_container_removed_while_the_leftovers_are_listed_is_skipped() -> None:
    """Local grading's threads: one run's container ends and is removed while another run's sandbox lists the
    leftovers (docker-py reads each listed container's details): that run must not fail on the 404."""
    client = require_docker()
    from repoagent.sandbox.docker_box import _labels, leftover_containers

    container = client.containers.create("repoagent-base:bookworm", ["true"], labels=_labels())
    listed = client.api.containers(all=True, filters={"id": container.id})  # the listing, taken before...
    container.remove(force=True)  # ...the container goes
    real = client.api.containers
    client.api.containers = lambda *a, **k: listed  # type: ignore[method-assign]
    try:
        assert leftover_containers(client) == []
    finally:
        client.api.containers = real  # type: ignore[method-assign]
