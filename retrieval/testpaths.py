"""Which repository paths hold tests or project tooling: the fix rarely lives there, so they rank apart or lower."""

from __future__ import annotations

import re

_TEST_PATH = re.compile(
    r"""(^|/)(tests?|testing|__tests__|spec|specs)/
      | (^|/)test_[^/]*$
      | _tests?\.(py|go|rs)$
      | (^|/)conftest\.py$
      | \.(test|spec)\.[cm]?[jt]sx?$
      | (^|/)[^/]*Tests?\.java$""",
    re.X,
)

# Top-level folders and files of documentation, examples, benchmarks and build
# tooling: code, but seldom where an issue's fix lands.
_AUXILIARY_PATH = re.compile(
    r"""^(docs?|examples?|benchmarks?|asv_bench|bench|scripts|tools|ci|build_tools|release|bin|\.github|\.circleci)/
      | ^(setup|noxfile|tasks|fabfile)\.py$""",
    re.X,
)


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def is_auxiliary_path(path: str) -> bool:
    """Documentation, examples, benchmarks, CI and packaging scripts at the top of the repository."""
    return bool(_AUXILIARY_PATH.search(path))
