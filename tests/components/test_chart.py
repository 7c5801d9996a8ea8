"""Figure building: defaults, thinning, trace types, and what a live update may patch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.chart import build_figure, data_patch, default_choices, drawn_as, fit_choices
from data_access.parsing import transform


def _sample(rows: int) -> pd.DataFrame:
    ids = np.arange(rows)
    return transform(pd.DataFrame({"ID": ids, "first_num": ids % 7, "second_num": ids % 5}))


def test_sample_gets_the_seed_bars():
    assert default_choices(_sample(20)) == {"x": "ID", "y": ["add_num", "multiply_num"], "kind": "bar"}


def test_choices_that_no_longer_fit_the_data_fall_back_to_defaults():
    frame = pd.DataFrame({"day": ["a", "b"], "sales": [1, 2]})
    assert fit_choices({"x": "ID", "y": ["add_num"], "kind": "pie"}, frame) == {
        "x": "day",
        "y": ["sales"],
        "kind": "bar",
    }


def test_large_tables_are_thinned_and_sent_as_typed_arrays():
    figure = build_figure(_sample(100_000), {"x": "ID", "y": ["add_num"], "kind": "line"}, max_points=20_000)
    trace = figure["data"][0]
    assert trace["type"] == "scattergl"
    assert set(trace["y"]) == {"dtype", "bdata"}
    assert "showing every 5th row" in figure["layout"]["title"]["text"]


def test_too_many_bars_are_drawn_as_lines_and_say_so():
    choices = {"x": "ID", "y": ["add_num"], "kind": "bar"}
    assert drawn_as(choices, rows=100, max_points=20_000) == "bar"
    assert drawn_as(choices, rows=50_000, max_points=20_000) == "line-webgl"
    figure = build_figure(_sample(50_000), choices, max_points=20_000)
    assert figure["data"][0]["type"] == "scattergl"
    assert "drawn as lines" in figure["layout"]["title"]["text"]


def test_patch_touches_only_trace_data_and_the_title():
    patch = data_patch(_sample(10), {"x": "ID", "y": ["add_num", "multiply_num"], "kind": "bar"}, 1_000)
    locations = {tuple(operation["location"]) for operation in patch.to_plotly_json()["operations"]}
    assert locations == {
        ("data", 0, "x"),
        ("data", 0, "y"),
        ("data", 1, "x"),
        ("data", 1, "y"),
        ("layout", "title", "text"),
    }
