"""The things a shop keeps in stock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One kind of item; prices are whole cents so sums stay exact."""

    sku: str
    name: str
    price_cents: int
    quantity: int = 0

    def __post_init__(self) -> None:
        if self.price_cents < 0:
            raise ValueError(f"{self.sku}: a price cannot be negative")
        if self.quantity < 0:
            raise ValueError(f"{self.sku}: a quantity cannot be negative")

    def stock_value_cents(self) -> int:
        return self.price_cents * self.quantity
