"""Find the git repository of a SWE-bench ``owner/name`` in a folder of repositories."""

from __future__ import annotations

import json
from pathlib import Path

from repoagent.errors import UserError


class RepoFinder:
    """Looks in ``DIR/<owner>+<name>/repo``, ``DIR/<owner>__<name>``, ``DIR/<owner>/<name>``, or a map file."""

    def __init__(self, root: Path | None, repo_map: Path | None = None) -> None:
        self.root = Path(root) if root else None
        self.mapping: dict[str, Path] = {}
        if repo_map is not None:
            try:
                self.mapping = {k: Path(v) for k, v in json.loads(Path(repo_map).read_text()).items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise UserError(
                    f"--repo-map {repo_map}: expected a JSON object of owner/name to folder ({exc})"
                ) from None
        if self.root is not None and not self.root.is_dir():
            raise UserError(f"--repos {root}: no such folder")

    def candidates(self, repo: str) -> list[Path]:
        owner, _, name = repo.partition("/")
        out = [self.mapping[repo]] if repo in self.mapping else []
        if self.root is not None:
            out += [self.root / f"{owner}+{name}" / "repo", self.root / f"{owner}__{name}", self.root / owner / name]
        return out

    def find(self, repo: str) -> Path:
        for cand in self.candidates(repo):
            if (cand / "HEAD").exists() or (cand / ".git").exists():
                return cand
        tried = ", ".join(str(c) for c in self.candidates(repo)) or "nothing (no --repos or --repo-map)"
        raise UserError(f"no git repository for {repo}; looked at {tried}")
