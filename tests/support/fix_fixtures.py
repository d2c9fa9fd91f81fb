"""Scripted answers and projects for the ``repoagent fix`` end-to-end tests.

The answers are what a capable model says at each step for the example in
``examples/inventory`` (a Python project with several packages) and for a
small JavaScript project; ``when`` keys match the prompts' own headings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.support.gitrepo import make_repo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "inventory"

FILES = {
    "when": "# Candidate files",
    "answer": '```json\n{"files": ["inventory/pricing/discounts.py", "inventory/orders/totals.py"], '
    '"reason": "the tiers are in discounts.py"}\n```',
}
SYMBOLS = {
    "when": "# Schematic maps",
    "answer": '{"symbols": [{"path": "inventory/pricing/discounts.py", "name": "bulk_discount_percent", '
    '"action": "edit"}], "reason": "the loop returns the first tier that matches"}',
}
REPRO = {
    "when": "reproduces the issue",
    "answer": "### NEW TEST tests/test_repoagent_reproduction.py\n```python\n"
    "from inventory.pricing import bulk_discount_percent\n\n\n"
    "def test_large_orders_get_larger_discounts():\n"
    "    assert bulk_discount_percent(120) == 15\n"
    "    assert bulk_discount_percent(60) == 10\n```",
}
_HEAD = (
    "### REPLACE inventory/pricing/discounts.py::bulk_discount_percent\n```python\n"
    "def bulk_discount_percent(quantity: int) -> int:\n"
    '    """The discount, in percent, for an order of ``quantity`` units of one item."""\n'
)
GOOD = (
    _HEAD + "    for minimum, percent in sorted(TIERS, reverse=True):\n"
    "        if quantity >= minimum:\n            return percent\n    return 0\n```"
)
WRONG = (  # passes the small-order tests' shape but breaks the 10-unit tier
    _HEAD + "    for minimum, percent in TIERS:\n"
    "        if quantity > minimum:\n            return percent\n    return 0\n```"
)
FIXED_LINE = "for minimum, percent in sorted(TIERS, reverse=True):"


def script(tmp_path: Path, answers: list[Any]) -> str:
    """A scripted model name for ``answers`` (a fresh file each time: the provider caches by path)."""
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*.json')))}.json"
    path.write_text(json.dumps(answers))
    return f"scripted/{path}"


def example_copy(dest: Path, git: bool = False) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".repoagent", "__pycache__", ".pytest_cache"))
    if git:
        make_repo(dest, {})
    return dest


JS_FILES = {
    "package.json": '{"name": "units", "version": "1.0.0", "type": "module", "scripts": {"test": "node --test"}}\n',
    "src/convert.js": (
        "// Unit conversions for lengths.\n\n"
        "export const FACTORS = { mm: 0.001, cm: 0.01, m: 1, km: 1000 };\n\n"
        "export function toMeters(value, unit) {\n"
        "  const factor = FACTORS[unit];\n"
        "  if (factor === undefined) {\n"
        "    throw new Error(`unknown unit: ${unit}`);\n"
        "  }\n"
        "  return value / factor;\n"
        "}\n\n"
        "export function convert(value, from, to) {\n"
        "  return toMeters(value, from) / FACTORS[to];\n"
        "}\n"
    ),
    "src/format.js": (
        "import { convert } from './convert.js';\n\n"
        "export function describe(value, from, to) {\n"
        "  return `${convert(value, from, to)} ${to}`;\n"
        "}\n"
    ),
    "test/convert.test.js": (
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\n"
        "import { toMeters, convert } from '../src/convert.js';\n\n"
        "test('meters stay meters', () => { assert.equal(toMeters(3, 'm'), 3); });\n"
        "test('kilometers become meters', () => { assert.equal(toMeters(2, 'km'), 2000); });\n"
        "test('centimeters to millimeters', () => { assert.equal(convert(1, 'cm', 'mm'), 10); });\n"
    ),
}
JS_ISSUE = (
    "toMeters divides instead of multiplying\n\n"
    "toMeters(2, 'km') returns 0.002 instead of 2000, so convert() is wrong for every unit but meters."
)
JS_ANSWERS = [
    {
        "when": "# Candidate files",
        "answer": '{"files": ["src/convert.js"], "reason": "toMeters is defined there"}',
    },
    {
        "when": "# Schematic maps",
        "answer": '{"symbols": [{"path": "src/convert.js", "name": "toMeters", "action": "edit"}]}',
    },
    "### REPLACE src/convert.js::toMeters\n```javascript\n"
    "export function toMeters(value, unit) {\n"
    "  const factor = FACTORS[unit];\n"
    "  if (factor === undefined) {\n"
    "    throw new Error(`unknown unit: ${unit}`);\n"
    "  }\n"
    "  return value * factor;\n"
    "}\n```",
]


def make_js_project(root: Path) -> Path:
    make_repo(root, JS_FILES)
    return root
