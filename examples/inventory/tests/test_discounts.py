import pytest

from inventory.pricing import bulk_discount_percent, discounted


def test_small_orders_get_no_discount():
    assert bulk_discount_percent(1) == 0
    assert bulk_discount_percent(9) == 0


def test_ten_units_get_five_percent():
    assert bulk_discount_percent(10) == 5


def test_discounted_rounds_half_up():
    assert discounted(999, 5) == 949


def test_discount_out_of_range_is_refused():
    with pytest.raises(ValueError):
        discounted(100, 120)
