import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.findings import EVIDENCE, _distinct

reference = st.tuples(st.sampled_from(["f1", "f2"]), st.sampled_from(["orders", "activity"]),
                      st.sampled_from(["a.csv#1", "b.csv#1"]), st.integers(0, 4))


@settings(max_examples=200, deadline=None)
@given(st.lists(reference, max_size=40))
def test_distinct_evidence_keeps_the_first_of_each_row_in_order(rows):
    frame = pl.DataFrame(rows, schema=EVIDENCE, orient="row")
    assert _distinct(frame).equals(frame.unique(maintain_order=True))
