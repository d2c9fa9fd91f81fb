"""Prices: bulk discounts and rounding."""

from inventory.pricing.discounts import bulk_discount_percent, discounted

__all__ = ["bulk_discount_percent", "discounted"]
