"""One rule for what a column holds, named by the table's filters, the upload preview and comparisons."""

from __future__ import annotations

import pandas as pd


def test_one_rule_names_what_a_column_holds_for_tables_filters_previews_and_comparisons():
    from components.data_table import _filter_for
    from components.preview import _column_types
    from data_access.roles import value_kind

    frame = pd.DataFrame(
        {
            "flag": [True, False],
            "count": [1, 2],
            "price": [1.5, 2.0],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "name": ["a", "b"],
        }
    )
    assert [value_kind(frame[column]) for column in frame] == ["boolean", "integer", "number", "time", "text"]
    preview_rows = _column_types(frame).children[1].children
    assert [row.children[1].children for row in preview_rows] == [
        "true/false",
        "whole number",
        "number",
        "date/time",
        "text",
    ]
    assert [_filter_for(frame[column]) for column in frame] == [
        "agTextColumnFilter",
        "agNumberColumnFilter",
        "agNumberColumnFilter",
        "agDateColumnFilter",
        "agTextColumnFilter",
    ]
