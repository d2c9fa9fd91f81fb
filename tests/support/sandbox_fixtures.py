"""A small Python project with one passing and one failing test, for the sandbox tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.gitrepo import make_repo

CALC = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b  # bug\n",
    "tests/test_ops.py": (
        "from calc.ops import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n"
    ),
}
FIX = (
    b"diff --git a/calc/ops.py b/calc/ops.py\n"
    b"--- a/calc/ops.py\n"
    b"+++ b/calc/ops.py\n"
    b"@@ -3,4 +3,4 @@ def add(a, b):\n"
    b" \n"
    b" \n"
    b" def mul(a, b):\n"
    b"-    return a + b  # bug\n"
    b"+    return a * b\n"
)


def make_calc(root: Path) -> Path:
    make_repo(root, CALC)
    return root


def require_docker():
    """The Docker client; in CI a missing engine fails the test instead of skipping it."""
    from repoagent.errors import UserError
    from repoagent.sandbox.docker_box import docker_client

    try:
        client = docker_client()
        client.images.get("repoagent-base:bookworm")
    except Exception as exc:  # any failure to reach the engine or find the image
        if os.environ.get("CI"):
            pytest.fail(f"Docker must run in CI: {exc}")
        pytest.skip(f"no Docker engine or base image here: {exc}")
    assert not isinstance(client, UserError)
    return client
