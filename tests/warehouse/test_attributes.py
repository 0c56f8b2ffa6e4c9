"""Mention attributes flatten into key/value rows without the keys that echo note text."""

from warehouse.load import flatten_attributes


def test_flatten_attributes():
    attrs = {
        "drug": "metformin",  # the note's words: never flattened
        "strength": {"value": 500, "unit": "mg", "text": "500 mg"},
        "dose": {"value_low": 1, "value_high": 2.5, "unit": "tablet"},
        "prn": True,
        "when": ["ACM", "HS"],
        "value": 7.25,
        "comparator": None,
        "parts": {"drug": [0, 9]},
        "oxygen_flow": {"value": 2, "unit": "L/min"},
        "nan": float("nan"),
    }
    rows = {k: (t, n) for k, t, n in flatten_attributes(attrs)}
    assert rows == {
        "strength.value": ("500", 500.0),
        "strength.unit": ("mg", None),
        "dose.value_low": ("1", 1.0),
        "dose.value_high": ("2.5", 2.5),
        "dose.unit": ("tablet", None),
        "prn": ("true", None),
        "when": ('["ACM", "HS"]', None),
        "value": ("7.25", 7.25),
        "oxygen_flow.value": ("2", 2.0),
        "oxygen_flow.unit": ("L/min", None),
        "nan": ("nan", None),
    }
