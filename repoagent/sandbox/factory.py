"""Choose the sandbox a run uses: Docker when it can, the local one when it must, or none."""

from __future__ import annotations

from collections.abc import Callable

from repoagent.cancel import CancelToken
from repoagent.config import SandboxSettings
from repoagent.errors import UserError
from repoagent.protocols import Sandbox
from repoagent.sandbox.environment import EnvPlan
from repoagent.sandbox.limits import Limits


def open_sandbox(
    settings: SandboxSettings,
    kind: str | None = None,
    plan: EnvPlan | None = None,
    warn: Callable[[str], None] = print,
    cancel: CancelToken | None = None,
    failed_builds: dict[str, str] | None = None,
) -> Sandbox | None:
    """``auto``: Docker when an engine answers and the image is there, else local with a warning; ``none``: None.

    In Docker the ``plan``'s install steps are baked into a cached image on the base image of its Python;
    the local sandbox runs in the environment you have.  With ``require_isolation`` (or ``kind`` docker) a
    missing engine or image stops the run instead of falling back to the local sandbox (not isolated).
    ``warn`` gets the fallback's warning, which callers must show even when they are told to be quiet.
    ``failed_builds``: the caller's memory of failed installs (see ``DockerSandbox``).
    """
    kind = kind or settings.kind
    if kind == "none":
        return None
    limits = Limits.of(settings)
    if kind == "local" and settings.require_isolation:
        raise UserError(
            "sandbox.require_isolation is true, so the local sandbox (not isolated) is refused; "
            "use --sandbox docker (or auto) with a Docker engine and 'repoagent sandbox build-base'"
        )
    if kind in ("auto", "docker"):
        from repoagent.sandbox.docker_box import DockerSandbox

        try:
            return DockerSandbox(
                settings.image,
                settings.memory_mb,
                settings.cpus,
                settings.pids,
                settings.network,
                cancel=cancel,
                plan=plan,
                warn=warn,
                limits=limits,
                user=settings.user,
                failed_builds=failed_builds,
            )
        except UserError as exc:
            if kind == "docker":
                raise
            if settings.require_isolation:
                raise UserError(
                    f"Docker sandbox unavailable ({exc}), and sandbox.require_isolation is true, so the tests "
                    "do not fall back to the local sandbox (not isolated)"
                ) from None
            warn(f"Docker sandbox unavailable ({exc})")
    from repoagent.sandbox.local import WARNING, LocalSandbox

    warn(WARNING)
    return LocalSandbox(settings.memory_mb, cancel=cancel, pass_env=settings.pass_env, limits=limits)
