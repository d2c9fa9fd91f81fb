"""Which repository paths hold tests: the fix rarely lives there, so they rank apart."""

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


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))
