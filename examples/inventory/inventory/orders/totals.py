"""What an order costs."""

from __future__ import annotations

from inventory.models import Item
from inventory.pricing import bulk_discount_percent, discounted


def order_total(item: Item, units: int) -> int:
    """The price in cents of ``units`` units of ``item``, bulk discount included."""
    if units <= 0:
        raise ValueError("an order needs at least one unit")
    return discounted(item.price_cents * units, bulk_discount_percent(units))
