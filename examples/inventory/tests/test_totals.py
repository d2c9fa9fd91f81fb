import pytest

from inventory.models import Item
from inventory.orders import order_total

BOLT = Item("B-1", "bolt", price_cents=200)


def test_single_unit_costs_the_price():
    assert order_total(BOLT, 1) == 200


def test_ten_units_get_the_first_tier():
    assert order_total(BOLT, 10) == 1900


def test_an_empty_order_is_refused():
    with pytest.raises(ValueError):
        order_total(BOLT, 0)
