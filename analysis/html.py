"""The HTML pieces every report shares: number formatting, template rendering, atomic writing.

:mod:`.report` (a run's or an experiment's page) and :mod:`.training` (a training run's page)
both render ``templates/*.html`` through :func:`render_template` and write the page with
:func:`write_html`. This module imports no other analysis module, so the reports depend on it
and on the per-world analyses, never on each other.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

__all__ = ["format_number", "render_template", "write_html"]


def format_number(value: Any) -> str:
    """Numbers as a reader wants them: ``30,720``, ``30,720.5``, ``12.25``, ``0.3167``; ``–`` for
    none; booleans as ``yes`` / ``no``."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}"
    return str(value)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = format_number
    return environment


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<name>`` (jinja2, autoescaped, strict, with the ``num`` filter)."""
    return _environment().get_template(name).render(**context)


def write_html(target: Path, html: str) -> Path:
    """Write ``html`` to ``target`` through a temporary file renamed into place; returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
