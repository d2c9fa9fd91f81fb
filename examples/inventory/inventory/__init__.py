"""Stock keeping for a small shop: items, prices and orders."""
