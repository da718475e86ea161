"""relations.csv: who contracts, subcontracts, manages and engages whom.

Columns: ``from_party,from_kind,to_party,to_kind,relation,evidence``."""

from __future__ import annotations

from pathlib import Path

from connectors.base import (
    ReadOptions,
    ReadResult,
    check_rows,
    decode,
    finish,
    header_is,
    read_csv_rows,
)

NAME = "relations-csv"
TABLES = ("relations",)
COLUMNS = ("from_party", "from_kind", "to_party", "to_kind", "relation", "evidence")


def sniff(path: Path, head: bytes) -> float:
    return 0.95 if header_is(head, COLUMNS) else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    raw, rejections, rows_read = read_csv_rows(path, text, required=COLUMNS)
    frame, bad = check_rows(raw, {}, required=("from_party", "to_party", "relation"))
    return ReadResult({"relations": finish("relations", frame)}, rows_read, rejections + bad,
                      {"format": "relations CSV", "encoding": encoding})
