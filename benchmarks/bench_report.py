"""How every benchmark reports: a table of figures, and with ``--json`` one JSON object as the last line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _cell(value: float, digits: int | None) -> str:
    if digits is None:  # small values keep three decimals, large ones one
        digits = 3 if abs(value) < 10 else 1
    return f"{value:,.{digits}f}"


def print_figures(
    figures: Mapping[str, float],
    *,
    as_json: bool,
    digits: int | None = 2,
    json_digits: int = 3,
    goals: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Print ``figures`` as a two-column table (a third for ``goals``), then the JSON line when asked.

    ``digits`` is the table's decimals (None: three below 10, else one); ``json_digits`` the JSON's;
    ``extra`` goes first in the JSON object, as it is (e.g. the isolation level a run used).
    """
    width = max(len("figure"), *(len(k) for k in figures))
    if goals:
        print(f"{'figure':<{width}}  {'value':>10}  goal")
        print(f"{'-' * width}  {'-' * 10}  ----")
        for key, value in figures.items():
            print(f"{key:<{width}}  {_cell(value, digits):>10}  {goals.get(key, '')}")
    else:
        print(f"{'figure':<{width}}  value")
        print(f"{'-' * width}  ---------")
        for key, value in figures.items():
            print(f"{key:<{width}}  {_cell(value, digits)}")
    if as_json:
        print(json.dumps({**dict(extra or {}), **{k: round(float(v), json_digits) for k, v in figures.items()}}))
