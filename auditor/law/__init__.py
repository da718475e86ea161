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


def jurisdictions() -> list[str]:
    """The parameter sets an audit applies (daily hours and the rest); the others (eu_wtd, a
    comparison column; minimum_wage, a table) are read by the analyzers that need them."""
    return sorted(p.stem for p in HERE.glob("*.toml") if "daily_hours" in load(p.stem))


def jurisdiction(name: str) -> dict:
    """The parameter set ``name``, if an audit can apply it; else a clear error listing those that can."""
    if name not in jurisdictions():
        raise ValueError(f"unknown jurisdiction {name!r}; an audit applies: {', '.join(jurisdictions())}")
    return load(name)


@cache
def load_control(name: str) -> dict:
    """A file of auditor/law/control/ (``indicators``, ``scorecard``, ``views``): how the control
    indicators are scored, mapped to categories and read through each jurisdiction's test."""
    path = HERE / "control" / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (HERE / "control").glob("*.toml"))
        raise ValueError(f"unknown control law file {name!r}; known: {known}")
    return tomllib.loads(path.read_text(encoding="utf-8"))
