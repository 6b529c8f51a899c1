"""The ``convert`` tool: unit conversion with exact factors (length, mass, volume, time, temperature).

Factors are the exact definitions (1 in = 0.0254 m, 1 lb = 0.45359237 kg, 1 US gal =
3.785411784 L), so results are exact rationals; they are printed as exact decimals when they
terminate and to 15 significant digits otherwise.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

from assay.envs.tools.tool import Tool
from assay.verifiers.arithmetic import terminating_decimal

__all__ = ["UNITS", "convert", "convert_exact", "units_tool"]

_F = Fraction
# unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, Fraction]] = {
    "m": ("length", _F(1)),
    "km": ("length", _F(1000)),
    "cm": ("length", _F(1, 100)),
    "mm": ("length", _F(1, 1000)),
    "in": ("length", _F("0.0254")),
    "ft": ("length", _F("0.3048")),
    "yd": ("length", _F("0.9144")),
    "mi": ("length", _F("1609.344")),
    "nmi": ("length", _F(1852)),
    "kg": ("mass", _F(1)),
    "g": ("mass", _F(1, 1000)),
    "mg": ("mass", _F(1, 10**6)),
    "t": ("mass", _F(1000)),
    "lb": ("mass", _F("0.45359237")),
    "oz": ("mass", _F("0.45359237") / 16),
    "st": ("mass", _F("0.45359237") * 14),
    "l": ("volume", _F(1)),
    "ml": ("volume", _F(1, 1000)),
    "m3": ("volume", _F(1000)),
    "gal": ("volume", _F("3.785411784")),
    "qt": ("volume", _F("3.785411784") / 4),
    "pt": ("volume", _F("3.785411784") / 8),
    "cup": ("volume", _F("3.785411784") / 16),
    "floz": ("volume", _F("3.785411784") / 128),
    "s": ("time", _F(1)),
    "min": ("time", _F(60)),
    "h": ("time", _F(3600)),
    "day": ("time", _F(86400)),
    "week": ("time", _F(604800)),
    "c": ("temperature", _F(1)),
    "f": ("temperature", _F(5, 9)),
    "k": ("temperature", _F(1)),
}
_ALIASES = {
    "meter": "m", "meters": "m", "metre": "m", "metres": "m", "kilometer": "km", "kilometers": "km",
    "centimeter": "cm", "centimeters": "cm", "millimeter": "mm", "millimeters": "mm", "inch": "in",
    "inches": "in", "foot": "ft", "feet": "ft", "yard": "yd", "yards": "yd", "mile": "mi",
    "miles": "mi", "nautical mile": "nmi", "nautical miles": "nmi", "kilogram": "kg",
    "kilograms": "kg", "gram": "g", "grams": "g", "milligram": "mg", "milligrams": "mg",
    "tonne": "t", "tonnes": "t", "pound": "lb", "pounds": "lb", "lbs": "lb", "ounce": "oz",
    "ounces": "oz", "stone": "st", "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "milliliter": "ml", "milliliters": "ml", "gallon": "gal", "gallons": "gal", "quart": "qt",
    "quarts": "qt", "pint": "pt", "pints": "pt", "cups": "cup", "fluid ounce": "floz",
    "fluid ounces": "floz", "fl oz": "floz", "second": "s", "seconds": "s", "minute": "min",
    "minutes": "min", "hour": "h", "hours": "h", "days": "day", "weeks": "week",
    "celsius": "c", "°c": "c", "fahrenheit": "f", "°f": "f", "kelvin": "k",
}  # fmt: skip
_ZERO = {"c": _F("273.15"), "f": _F("459.67") * _F(5, 9), "k": _F(0)}  # offsets to kelvin


def _unit(name: str) -> str:
    key = " ".join(name.strip().lower().split())
    key = _ALIASES.get(key, key)
    if key not in UNITS:
        raise ValueError(f"unknown unit {name[:30]!r}; known: {', '.join(UNITS)}")
    return key


def convert_exact(value: Fraction, from_unit: str, to_unit: str) -> Fraction:
    """``value`` in ``from_unit`` expressed in ``to_unit``, exactly."""
    a, b = _unit(from_unit), _unit(to_unit)
    (dim_a, fa), (dim_b, fb) = UNITS[a], UNITS[b]
    if dim_a != dim_b:
        raise ValueError(f"cannot convert {dim_a} ({a}) to {dim_b} ({b})")
    if dim_a == "temperature":
        kelvin = value * fa + _ZERO[a]
        return (kelvin - _ZERO[b]) / fb
    return value * fa / fb


def convert(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length, mass, volume, time or temperature.

    Units: m km cm mm in ft yd mi nmi | kg g mg t lb oz st | l ml m3 gal qt pt cup floz (US) |
    s min h day week | c f k (temperature). Full names such as "miles" work too.

    Args:
        value: The quantity, e.g. 17.5.
        from_unit: Its unit, e.g. "mi".
        to_unit: The unit wanted, e.g. "km".
    """
    result = convert_exact(Fraction(repr(value)), from_unit, to_unit)
    exact = terminating_decimal(result)
    if exact is not None:
        return exact
    with localcontext() as ctx:
        ctx.prec = 15
        return f"{Decimal(result.numerator) / Decimal(result.denominator)} (rounded)"


def units_tool() -> Tool:
    """The ``convert`` tool (in-process: each call is O(1))."""
    return Tool.from_function(convert, isolation="inline")
