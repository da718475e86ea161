"""Jurisdiction parameters as data: limits, multipliers and thresholds with their legal sources."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def load(jurisdiction: str = "cn_standard") -> dict:
    path = HERE / f"{jurisdiction}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in HERE.glob("*.toml"))
        raise ValueError(f"unknown jurisdiction {jurisdiction!r}; known: {known}")
    return tomllib.loads(path.read_text(encoding="utf-8"))


@cache
def load_control(name: str) -> dict:
    """A file of auditor/law/control/ (``indicators``, ``scorecard``, ``views``): how the control
    indicators are scored, mapped to categories and read through each jurisdiction's test."""
    path = HERE / "control" / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (HERE / "control").glob("*.toml"))
        raise ValueError(f"unknown control law file {name!r}; known: {known}")
    return tomllib.loads(path.read_text(encoding="utf-8"))
