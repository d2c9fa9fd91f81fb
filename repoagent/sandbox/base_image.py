"""Build the local base image from Debian's packages, with no container registry.

``debootstrap --variant=minbase`` makes a Debian root with Python, pip, venv and
git; the host's CA bundle goes in (so pip inside reaches the package index the
host reaches); ``docker import`` turns the folder into an image.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from repoagent.errors import JobFailed, UserError

DEFAULT_TAG = "repoagent-base:bookworm"
PACKAGES = "python3,python3-pip,python3-venv,python3-dev,git,ca-certificates,gcc,libc6-dev"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def build_base(
    tag: str = DEFAULT_TAG,
    suite: str = "bookworm",
    mirror: str = "http://deb.debian.org/debian",
    log: Callable[[str], None] = print,
) -> str:
    if shutil.which("debootstrap") is None:
        raise UserError("debootstrap is not installed; run: apt-get install -y debootstrap (as root)")
    if shutil.which("docker") is None:
        raise UserError("the docker client is not installed; run: apt-get install -y docker.io")
    with tempfile.TemporaryDirectory(prefix="repoagent-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        log(f"debootstrap {suite} into {root} (a minute or two)")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", suite, str(root), mirror],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise JobFailed(f"debootstrap failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        if HOST_CA.exists():
            shutil.copy(HOST_CA, root / "etc/ssl/certs/ca-certificates.crt")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
        log(f"docker import as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            [
                "docker",
                "import",
                "-c",
                "ENV PIP_BREAK_SYSTEM_PACKAGES=1",
                "-c",
                "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                "-c",
                'CMD ["/bin/bash"]',
                "-",
                tag,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        tar.wait()
        if imp.returncode != 0:
            raise JobFailed(f"docker import failed: {imp.stderr.strip()}")
    return tag
