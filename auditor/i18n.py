"""UI strings in Chinese and English, kept as data in ``auditor/i18n/<lang>.toml``.

The app, the HTML dossier and the CLI look strings up by key; a key missing from one language is
a test failure rather than an English word in a Chinese page.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent / "i18n"
LANGUAGES = ("zh", "en")


@cache
def strings(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGUAGES}")
    return tomllib.loads((HERE / f"{lang}.toml").read_text(encoding="utf-8"))


def t(key: str, lang: str, **values) -> str:
    """The string ``key`` in ``lang``, with ``{name}`` placeholders filled from ``values``."""
    text = strings(lang)[key]
    return text.format(**values) if values else text
