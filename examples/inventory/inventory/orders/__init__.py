"""Orders and their totals."""

from inventory.orders.totals import order_total

__all__ = ["order_total"]
