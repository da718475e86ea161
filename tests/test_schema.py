import polars as pl
import pytest

from auditor import schema
from auditor.schema import SchemaError


def test_every_table_validates_empty():
    for name in schema.TABLES:
        assert schema.validate(name, schema.empty(name)).height == 0


def test_all_violations_reported_together():
    frame = pl.DataFrame({
        "worker_id": ["R1", None],
        "platform": ["A", "A"],
        "ts": pl.Series(["2026-04-27 09:00:00"] * 2).str.to_datetime(),   # naive
        "kind": ["online", "teleport"],
        "lon": ["121.4", "121.5"],                                        # wrong dtype
        "src_row": [2, 3],
    })
    with pytest.raises(SchemaError) as err:
        schema.validate("activity", frame)
    text = "\n".join(err.value.violations)
    assert "missing column 'lat'" in text
    assert "missing provenance column 'src'" in text
    assert "'ts' holds naive timestamps" in text
    assert "'lon' is String, expected Float64" in text
    assert "'worker_id' has 1 null" in text
    assert "teleport" in text
    assert len(err.value.violations) >= 6


def test_non_utc_zone_rejected():
    frame = schema.conform("schedules", pl.DataFrame({
        "worker_id": ["R1"], "kind": ["roster"], "src": ["S1"], "src_row": [2],
        "start": pl.Series(["2026-04-27 09:00"]).str.to_datetime().dt.replace_time_zone("Asia/Shanghai"),
        "end": pl.Series(["2026-04-27 17:00"]).str.to_datetime().dt.replace_time_zone("UTC"),
    }))
    with pytest.raises(SchemaError, match="'start' is in time zone Asia/Shanghai; expected UTC"):
        schema.validate("schedules", frame)


def test_unknown_table():
    with pytest.raises(SchemaError, match="unknown table"):
        schema.validate("payslips", pl.DataFrame())
