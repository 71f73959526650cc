"""How much an entry counts: a whole number, or halves for an item the rubric counts in
steps of 0.5 (`step = 0.5`, SPEC §1; `/请假 @某人 半天`, SPEC §3 "What people type").

Quantities are exact: a whole one is an `int`, a half one a `Half` (a `Fraction` that
prints as `1.5`). PostgreSQL stores them as NUMERIC(10, 1); SQLite keeps the INTEGER
column it had (its columns take any number: 1.5 is stored as a REAL, exactly)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Integer, Numeric
from sqlalchemy.types import TypeDecorator


class Half(Fraction):
    """A quantity that is not whole, shown in decimals (`1.5`, never `3/2`)."""

    def __str__(self) -> str:
        return str(Decimal(self.numerator) / Decimal(self.denominator))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def as_quantity(value: object) -> int | Fraction:
    """A stored or summed quantity as an exact number (`int` when whole)."""
    if value is None:
        return 0
    q = Fraction(str(value)) if isinstance(value, float | Decimal) else Fraction(value)  # type: ignore[arg-type]
    return int(q) if q.denominator == 1 else Half(q)


class Quantity(TypeDecorator):
    """The `entry.quantity` column (see the module docstring)."""

    impl = Integer
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(10, 1))
        return dialect.type_descriptor(Integer())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        q = Fraction(value)
        if q.denominator == 1:
            return int(q)
        if dialect.name == "postgresql":
            return Decimal(q.numerator) / Decimal(q.denominator)
        return float(q)  # a half is exact in binary

    def result_processor(self, dialect, coltype):
        """Every driver returns a number (asyncpg and psycopg a Decimal for NUMERIC): read
        it as is, whatever `coltype` says."""

        def read(value):
            return None if value is None else as_quantity(value)

        return read
