"""Bulk discounts: the more units an order has, the larger the discount."""

from __future__ import annotations

# (minimum units in the order, discount in percent)
TIERS = [(10, 5), (50, 10), (100, 15)]


def bulk_discount_percent(quantity: int) -> int:
    """The discount, in percent, for an order of ``quantity`` units of one item."""
    for minimum, percent in TIERS:
        if quantity >= minimum:
            return percent
    return 0


def discounted(amount_cents: int, percent: int) -> int:
    """``amount_cents`` less ``percent`` percent, rounded half up to a whole cent."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a discount must be between 0 and 100 percent, not {percent}")
    return (amount_cents * (100 - percent) + 50) // 100
