from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# This session's containers carry its own label, so its no-leftover checks ignore other runs on the machine.
os.environ.setdefault("REPOAGENT_SANDBOX_OWNER", f"tests-{os.getpid()}")

from tests.support.gitrepo import make_repo  # noqa: E402

SHOP = {
    "shop/__init__.py": '"""A small shop."""\n',
    "shop/cart.py": '''"""Shopping cart."""

from shop.pricing import apply_discount


class Cart:
    """Items a customer is about to buy."""

    def __init__(self):
        self.items = []

    def add(self, name, price, quantity=1):
        if quantity <= 0:
            raise ValueError("quantity must be a positive number of items")
        self.items.append((name, price, quantity))

    def total(self, code=None):
        subtotal = sum(price * quantity for _, price, quantity in self.items)
        return apply_discount(subtotal, code)
''',
    "shop/pricing.py": '''"""Prices and discount codes."""

DISCOUNTS = {"SAVE10": 0.10, "HALF": 0.5}


def apply_discount(amount, code):
    """Reduce amount by the discount of code."""
    if code is None:
        return amount
    rate = DISCOUNTS[code]
    return round(amount * (1 - rate), 2)


def format_price(amount):
    return f"${amount:.2f}"
''',
    "shop/inventory.py": '''"""Stock levels of the warehouse."""


class Inventory:
    def __init__(self):
        self.stock = {}

    def restock(self, name, count):
        self.stock[name] = self.stock.get(name, 0) + count

    def reserve(self, name, count):
        if self.stock.get(name, 0) < count:
            raise RuntimeError("not enough stock to reserve the item")
        self.stock[name] -= count
''',
    "shop/users.py": '''"""Customer accounts and logins."""


class Account:
    def __init__(self, email):
        self.email = email

    def login(self, password):
        return bool(password)
''',
    "tests/test_cart.py": """from shop.cart import Cart


def test_total():
    cart = Cart()
    cart.add("pen", 2.0, 3)
    assert cart.total() == 6.0
""",
}

SHOP_ISSUE = """Unknown discount code crashes Cart.total with KeyError

When a customer enters a discount code that does not exist, checkout crashes:

Traceback (most recent call last):
  File "app.py", line 3, in <module>
  File "shop/cart.py", line 19, in total
    return apply_discount(subtotal, code)
  File "shop/pricing.py", line 10, in apply_discount
    rate = DISCOUNTS[code]
KeyError: 'BOGUS'

An unknown code should be ignored and the full amount charged.
"""


@pytest.fixture()
def shop_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "shop"
    make_repo(repo, SHOP)
    return repo
