"""``swebench run``'s batch settings: ``configs/swebench.yaml``, with the flags that were given over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from repoagent.errors import UserError
from swebench_runner.run.driver import BATCH_CONFIG, BatchSettings


def test_batch_settings_come_from_the_file_and_given_flags_win() -> None:
    batch = BatchSettings.load()
    assert (batch.split, batch.sandbox, batch.workers, batch.executor) == ("test", "auto", 1, "local")
    assert batch.max_cost is batch.instance_cost is batch.instance_timeout is batch.ray_address is None
    flagged = BatchSettings.load(workers=3, sandbox="none", split=None, instance_timeout=60.0)
    assert (flagged.workers, flagged.sandbox, flagged.split, flagged.instance_timeout) == (3, "none", "test", 60.0)


def test_a_wrong_batch_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "swebench.yaml"
    path.write_text(BATCH_CONFIG.read_text() + "wrokers: 2\n")
    with pytest.raises(UserError, match="swebench setting wrokers: Extra inputs are not permitted"):
        BatchSettings.load(path)
    with pytest.raises(UserError, match="swebench setting workers: .*greater than or equal to 1"):
        BatchSettings.load(workers=0)
    with pytest.raises(UserError, match="swebench setting executor"):
        BatchSettings.load(executor="slurm")
