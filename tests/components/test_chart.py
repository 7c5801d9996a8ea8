"""Figures from (frame, roles, view): honest defaults, aggregation, downsampling, zoom and live patches."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pandas as pd
import plotly.express as px

from components.chart import control_values, view_from_controls
from components.figures import (
    MAX_AXIS_TITLE_CHARS,
    MAX_GROUPS,
    PICK_A_COLUMN,
    TITLE_LINE_HEIGHT,
    TOP_MARGIN,
    chart_for,
    figure_from,
    view_figure,
)
from data_access.parsing import load_table, transform
from data_access.roles import ColumnRoles, detect_roles, parse_time_columns
from data_access.view_state import ViewState
from tests.shapes import many_symbols, sensor_log, vega


def _stored(frame: pd.DataFrame) -> pd.DataFrame:
    return parse_time_columns(pd.read_csv(io.StringIO(frame.to_csv(index=False))))


def _resolved(frame: pd.DataFrame, view: ViewState | None = None) -> tuple[ColumnRoles, ViewState]:
    roles = detect_roles(frame)
    return roles, (view or ViewState()).resolve(roles)[0]


def _decoded(values: object) -> np.ndarray:
    """Trace values as numbers, whether sent as a list or as a base64 typed array."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]).newbyteorder("<"))
    return np.asarray(values, dtype=float)


def _spike_series(rows: int) -> pd.DataFrame:
    values = np.sin(np.arange(rows) / 5_000.0)
    values[rows // 3 + 17] = 40.0  # one row in a million
    return pd.DataFrame({"t": pd.date_range("2024-01-01", periods=rows, freq="s"), "signal": values})


def test_sample_keeps_the_seed_bars():
    ids = np.arange(1, 21)
    frame = transform(pd.DataFrame({"ID": ids, "first_num": ids % 7, "second_num": ids % 5}))
    roles, view = _resolved(frame)
    figure, _ = view_figure(frame, roles, view, 20_000)
    assert [(t["type"], t["name"]) for t in figure["data"]] == [("bar", "add_num"), ("bar", "multiply_num")]
    assert _decoded(figure["data"][0]["y"]).tolist() == (frame["add_num"]).tolist()


def test_category_bars_aggregate_all_rows_and_name_it():
    frame = _stored(px.data.gapminder())
    roles, view = _resolved(frame, ViewState(x="continent", y=("lifeExp",), agg="median"))
    figure, _ = view_figure(frame, roles, view, max_points=100)  # a small budget must not thin aggregates
    trace = figure["data"][0]
    expected = frame.groupby("continent")["lifeExp"].median()
    assert trace["type"] == "bar" and trace["x"] == list(expected.index)
    assert np.allclose(_decoded(trace["y"]), expected.to_numpy())
    assert figure["layout"]["yaxis"]["title"]["text"] == "median of lifeExp"
    assert "stack" not in str(figure["layout"].get("barmode"))


def test_scales_far_apart_get_a_second_axis_unless_turned_off():
    frame = _stored(px.data.gapminder())
    roles, view = _resolved(frame, ViewState(x="continent", y=("lifeExp", "pop")))
    figure, _ = view_figure(frame, roles, view, 20_000)
    assert [t.get("yaxis") for t in figure["data"]] == [None, "y2"]
    assert figure["layout"]["yaxis2"]["title"]["text"] == "mean of pop"
    off = ViewState(x="continent", y=("lifeExp", "pop"), y2="off").resolve(roles)[0]
    figure, _ = view_figure(frame, roles, off, 20_000)
    assert [t.get("yaxis") for t in figure["data"]] == [None, None] and "yaxis2" not in figure["layout"]


def test_colour_makes_one_trace_per_largest_group_plus_other():
    frame = _stored(px.data.gapminder())
    roles, view = _resolved(frame, ViewState(x="year", y=("lifeExp",), kind="line", color="country"))
    chart = chart_for(frame, roles, view, 20_000)
    names = [series.name for series in chart.series]
    assert len(names) == MAX_GROUPS + 1 and names[-1] == "other"


def test_cleared_y_asks_for_a_column():
    frame = _stored(px.data.stocks())
    roles, view = _resolved(frame, ViewState(x="date", y=()))
    figure, _ = view_figure(frame, roles, view, 20_000)
    assert figure["data"] == [] and figure["layout"]["annotations"][0]["text"] == PICK_A_COLUMN


def test_a_one_row_spike_in_a_million_rows_is_drawn_at_full_view():
    frame = _spike_series(1_000_000)
    roles, view = _resolved(frame)
    figure, _ = view_figure(frame, roles, view, 20_000)
    trace = figure["data"][0]
    y = _decoded(trace["y"])
    assert len(y) <= 20_000 and y.max() == 40.0
    assert trace["type"] == "scattergl" and trace["y"]["dtype"] == "f8"
    assert "showing 20,000 of 1,000,000 points" in figure["layout"]["title"]["text"]


def test_zoom_brings_every_row_of_a_narrow_range_back():
    frame = _spike_series(1_000_000)
    roles, view = _resolved(frame)
    low, high = "2024-01-02 00:00:00", "2024-01-02 00:30:00"
    full = chart_for(frame, roles, view, 20_000).series[0]
    in_range = (full.x >= np.datetime64(low)) & (full.x <= np.datetime64(high))
    zoomed = figure_from(chart_for(frame, roles, view, 20_000, [low, high]), view)
    x = _decoded(zoomed["data"][0]["x"])
    inside = (x >= pd.Timestamp(low).value / 1e6) & (x <= pd.Timestamp(high).value / 1e6)
    assert inside.sum() == 1_801 > in_range.sum()  # every second of the half hour
    assert "points in view" in zoomed["layout"]["title"]["text"]


def test_unsorted_x_is_sampled_with_its_extremes_and_said_so():
    generator = np.random.default_rng(3)
    frame = pd.DataFrame({"a": generator.normal(size=200_000), "b": generator.normal(size=200_000)})
    frame.loc[123_456, "b"] = 99.0
    roles, view = _resolved(frame, ViewState(x="a", y=("b",), kind="scatter"))
    chart = chart_for(frame, roles, view, 5_000)
    assert len(chart.series[0].y) == 5_000 and chart.series[0].y.max() == 99.0
    figure, _ = view_figure(frame, roles, view, 5_000)
    assert "showing 5,000 of 200,000 points" in figure["layout"]["title"]["text"]


def test_signature_says_when_a_live_update_can_patch_the_data_in_place():
    frame = _stored(px.data.stocks())
    roles, view = _resolved(frame)
    _, drawn = view_figure(frame, roles, view, 20_000)
    newer = frame.assign(GOOG=frame["GOOG"] * 2)
    assert view_figure(newer, detect_roles(newer), view, 20_000)[1] == drawn  # same traces: data only
    fewer = frame.drop(columns=["MSFT"])
    figure, signature = view_figure(fewer, detect_roles(fewer), view.resolve(detect_roles(fewer))[0], 20_000)
    assert signature != drawn and len(figure["data"]) == 5  # the traces changed (the page keeps the x axis)


def test_controls_round_trip_the_view_and_offer_only_drawable_columns():
    frame = _stored(px.data.gapminder())
    roles, view = _resolved(frame, ViewState(x="year", y=("pop",), kind="area", filters={"continent": ("Asia",)}))
    values = control_values(view, roles)  # year is the time column
    assert "iso_alpha" not in values["y_options"] and "country" not in values["y_options"]
    assert values["dates_min"] == "1952-01-01"
    assert view_from_controls(values, view) == view


def test_garbage_control_values_become_a_valid_view():
    frame = _stored(px.data.tips())
    roles = detect_roles(frame)
    garbage = {"x": 5, "y": "tip", "kind": "pie", "agg": ["sum"], "color": {}, "filter_column": 3, "filter_values": "x"}
    view, _ = view_from_controls(garbage, ViewState()).resolve(roles)
    assert view.kind in ("line", "bar", "scatter", "area") and view.agg == "mean"
    assert view_figure(frame, roles, view, 1_000)[0]["data"] is not None


def test_a_filter_column_picked_before_its_values_stays_picked_and_offers_its_values():
    frame = _stored(px.data.tips())
    roles, view = _resolved(frame)
    values = control_values(view, roles, picked_filter="day")
    assert values["filter_column"] == "day" and set(values["filter_value_options"]) == {"Sun", "Sat", "Thur", "Fri"}


# -- read any table right: long tables, scales far apart, what is left out, whole numbers ---


def _peaks_per_axis(figure: dict) -> dict[str, list[float]]:
    peaks: dict[str, list[float]] = {}
    for trace in figure["data"]:
        y = _decoded(trace["y"])
        peaks.setdefault(trace.get("yaxis", "y"), []).append(float(np.nanmax(np.abs(y))))
    return peaks


def test_long_table_draws_one_line_per_series_with_dates_on_x():
    frame = vega("stocks")
    roles, view = _resolved(frame)
    figure, _ = view_figure(frame, roles, view, 20_000)
    assert [t["name"] for t in figure["data"]] == ["MSFT", "AMZN", "IBM", "AAPL", "GOOG"]  # most rows first
    assert {(t["type"], t["mode"]) for t in figure["data"]} == {("scatter", "lines")}
    assert figure["layout"]["xaxis"]["type"] == "date"
    for trace in figure["data"]:
        rows = frame[frame["symbol"] == trace["name"]].sort_values("date")
        assert _decoded(trace["x"]).tolist() == (rows["date"].astype("int64") // 1_000).astype(float).tolist()
        assert np.allclose(_decoded(trace["y"]), rows["price"])  # GOOG's line starts in 2004, not a mean


def test_rows_sharing_a_time_and_series_are_aggregated_and_each_series_is_in_time_order():
    log = sensor_log(seconds=3_000, repeats=2)
    log.loc[log.index % 2 == 1, "value"] += 2.0  # the second reading of each second is 2 higher
    roles, view = _resolved(log)
    chart = chart_for(log, roles, view, 20_000)
    assert [series.name for series in chart.series] == ["s1", "s2", "s3"]
    for series in chart.series:
        first = log[(log["sensor"] == series.name) & (log.index % 2 == 0)]
        assert len(series.y) == 3_000 and np.allclose(series.y, first["value"].to_numpy() + 1.0)  # the mean
    # A long table in no order, with more times than a discrete axis: each line still runs left to right.
    symbols = many_symbols(symbols=3, days=400).sample(frac=1, random_state=0)
    roles, view = _resolved(symbols)
    for series in chart_for(symbols, roles, view, 20_000).series:
        assert len(series.x) > 400 and (np.diff(series.x.astype("int64")) > 0).all()


def test_what_is_left_out_is_said_in_words():
    employment = vega("us_employment")
    roles, view = _resolved(employment)
    title = view_figure(employment, roles, view, 20_000)[0]["layout"]["title"]["text"]
    assert "6 of 23 measures — choose in Chart options" in title
    symbols = many_symbols()
    roles, view = _resolved(symbols)
    figure, _ = view_figure(symbols, roles, view, 20_000)
    assert len(figure["data"]) == MAX_GROUPS + 1 and figure["data"][-1]["name"] == "other"
    assert figure["data"][0]["name"] == "S40"  # the largest series first
    assert "8 of 41 symbols + other" in figure["layout"]["title"]["text"]
    iris = _stored(px.data.iris())
    roles, view = _resolved(iris)
    assert "measures" not in view_figure(iris, roles, view, 20_000)[0]["layout"]["title"]["text"]  # 4 of 4


def test_without_a_number_column_the_chart_says_which_cell_keeps_a_column_from_being_one():
    # Blanks, spaces and thousands separators read as numbers; a euro sign keeps the column text.
    content = b'Date,Amount (EUR),Category\n2024-01-03,"1,234.50",food\n2024-02-10,  42 ,transport\n'
    content += b"2024-02-11,-,transport\n2024-02-14,\xe2\x82\xac15,food\n"
    frame = parse_time_columns(load_table(content, "messy.csv"))
    roles, view = _resolved(frame)
    figure, _ = view_figure(frame, roles, view, 20_000)
    message = figure["layout"]["annotations"][0]["text"]
    assert message == "No column for the y axis: “Amount (EUR)”<br>holds text such as “€15” among its numbers."
    fixed = parse_time_columns(load_table(content.replace(b"\xe2\x82\xac", b""), "messy.csv"))
    roles, view = _resolved(fixed)
    assert view.y == ("Amount (EUR)",) and len(view_figure(fixed, roles, view, 20_000)[0]["data"]) == 1
    cleared = ViewState(y=()).resolve(roles)[0]  # a person cleared y: the plain prompt
    assert view_figure(fixed, roles, cleared, 20_000)[0]["layout"]["annotations"][0]["text"] == PICK_A_COLUMN


def test_what_is_left_out_is_on_a_line_of_its_own_and_the_plot_makes_room():
    # A phone shows about 45 characters of title: "20 rows · 2 of 4 measures — choose in Chart options" was cut.
    ids = np.arange(1, 21)
    sample = transform(pd.DataFrame({"ID": ids, "first_num": ids % 7, "second_num": ids % 5}))
    roles, view = _resolved(sample)
    figure, signature = view_figure(sample, roles, view, 20_000)
    assert figure["layout"]["title"]["text"].split("<br>") == ["20 rows", "2 of 4 measures — choose in Chart options"]
    assert figure["layout"]["margin"]["t"] == TOP_MARGIN + TITLE_LINE_HEIGHT
    everything = ViewState(y=("first_num", "second_num", "add_num", "multiply_num")).resolve(roles)[0]
    whole, whole_signature = view_figure(sample, roles, everything, 20_000)
    assert whole["layout"]["title"]["text"] == "20 rows" and whole["layout"]["margin"]["t"] == TOP_MARGIN
    assert whole_signature[-1] != signature[-1]  # a live update that adds a line brings the new margin along
    gapminder = _stored(px.data.gapminder())
    roles, view = _resolved(gapminder, ViewState(x="year", y=("lifeExp", "pop"), kind="line", color="country"))
    lines = view_figure(gapminder, roles, view, 20_000)[0]["layout"]["title"]["text"].split("<br>")
    assert lines == [
        "1,704 rows · mean per year and country",
        "2 of 3 measures — choose in Chart options",
        "8 of 142 countries + other",
    ]
    assert max(len(line) for line in lines) <= 45


def test_the_largest_colour_groups_are_the_largest_by_the_measure_when_rows_tie():
    # Every country has 12 rows: the 8 shown are the most populous, not the first 8 alphabetically.
    gapminder = _stored(px.data.gapminder())
    roles, view = _resolved(gapminder, ViewState(x="year", y=("pop",), kind="line", color="country"))
    shown = [trace["name"] for trace in view_figure(gapminder, roles, view, 20_000)[0]["data"]]
    largest = gapminder.groupby("country")["pop"].sum().nlargest(MAX_GROUPS).index
    assert shown == [*largest, "other"] and "Afghanistan" not in shown  # the legend: largest first
    # Bars (a category x) pick their groups the same way.
    roles, view = _resolved(gapminder, ViewState(x="continent", y=("pop",), color="country"))
    assert {trace["name"] for trace in view_figure(gapminder, roles, view, 20_000)[0]["data"]} == {*largest, "other"}


# cars' six measures in five units (its default draws one of them per origin over the model years).
CARS_MEASURES = ("Miles_per_Gallon", "Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration")
CARS_VIEW = ViewState(x="Year", y=CARS_MEASURES)


def test_no_measure_is_drawn_flat_beside_one_100_times_larger():
    tables = {
        "cars": (vega("cars"), CARS_VIEW),
        "us_employment": (vega("us_employment"), ViewState()),
        "seattle_weather": (vega("seattle_weather"), ViewState()),
        "gapminder": (_stored(px.data.gapminder()), ViewState(x="continent")),
        "iris": (_stored(px.data.iris()), ViewState()),
    }
    axes = {}
    for name, (frame, chosen) in tables.items():
        roles, view = _resolved(frame, chosen)
        figure, _ = view_figure(frame, roles, view, 20_000)
        for axis, peaks in _peaks_per_axis(figure).items():
            assert max(peaks) <= 100 * min(peaks), (name, axis, peaks)
        axes[name] = [trace.get("yaxis", "y") for trace in figure["data"]]
    # cars: six measures, five units: one panel each over the shared years.
    assert axes["cars"] == ["y", "y2", "y3", "y4", "y5", "y6"]
    # us-employment: mining and logging (hundreds) on its own axis beside the millions of jobs.
    assert axes["us_employment"] == ["y2", "y2", "y2", "y2", "y2", "y"]
    assert axes["iris"] == ["y"] * 4 and set(axes["seattle_weather"]) == {"y"}


def test_scales_far_apart_follow_an_explicit_choice_in_the_url():
    cars = vega("cars")
    roles = detect_roles(cars)
    panels = view_figure(cars, roles, CARS_VIEW.resolve(roles)[0], 20_000)[0]
    domains = [panels["layout"][f"yaxis{n}"]["domain"] for n in ("", 2, 3, 4, 5, 6)]
    assert all(high > low for low, high in domains) and all(a[0] > b[1] for a, b in pairwise(domains))
    assert panels["layout"]["xaxis"]["anchor"] == "y6"  # one shared x, under the last panel
    off = view_figure(cars, roles, replace(CARS_VIEW, y2="off").resolve(roles)[0], 20_000)[0]
    assert {trace.get("yaxis", "y") for trace in off["data"]} == {"y"} and "yaxis2" not in off["layout"]
    on = view_figure(cars, roles, replace(CARS_VIEW, y2="on").resolve(roles)[0], 20_000)[0]
    assert {trace.get("yaxis", "y") for trace in on["data"]} == {"y", "y2"} and "yaxis3" not in on["layout"]


def test_whole_number_x_gets_whole_number_ticks():
    barley = vega("barley")
    roles, view = _resolved(barley, ViewState(x="year", y=("yield",), kind="bar"))
    xaxis = view_figure(barley, roles, view, 20_000)[0]["layout"]["xaxis"]
    assert (xaxis["tickformat"], xaxis["tickmode"], xaxis["tick0"], xaxis["dtick"]) == ("d", "linear", 1931, 1)
    cars = vega("cars")
    roles, view = _resolved(cars, ViewState(x="Cylinders", y=("Horsepower",), kind="bar"))
    assert view_figure(cars, roles, view, 20_000)[0]["layout"]["xaxis"]["dtick"] == 1  # 3, 4, 5, 6, 8 cylinders
    gapminder = _stored(px.data.gapminder())
    roles, view = _resolved(gapminder, ViewState(x="year", y=("lifeExp",), kind="line"))
    xaxis = view_figure(gapminder, roles, view, 20_000)[0]["layout"]["xaxis"]
    assert xaxis["tickformat"] == "d" and "dtick" not in xaxis  # 55 years: plotly's own whole-number steps
    iris = _stored(px.data.iris())
    roles, view = _resolved(iris, ViewState(x="sepal_length", y=("sepal_width",), kind="scatter"))
    assert "tickformat" not in view_figure(iris, roles, view, 20_000)[0]["layout"]["xaxis"]  # 4.3 cm stays 4.3


def test_long_axis_titles_are_shortened_and_the_hover_has_the_full_name():
    long_name = "average_monthly_net_generation_in_thousand_megawatt_hours_all_sources"
    frame = vega("us_employment").rename(columns={"nonfarm": long_name})
    roles, view = _resolved(frame, ViewState(x="month", y=(long_name,)))
    figure, _ = view_figure(frame, roles, view, 20_000)
    title = figure["layout"]["yaxis"]["title"]["text"]
    assert len(title) <= MAX_AXIS_TITLE_CHARS and title.endswith("…") and long_name.startswith(title[:-1])
    assert long_name in figure["data"][0]["hovertemplate"]
    assert figure["layout"]["hoverlabel"]["namelength"] == -1  # trace names are not cut in the hover either


def test_panels_of_a_long_table_keep_one_colour_and_one_legend_entry_per_series():
    log = sensor_log(seconds=600)
    log = log.assign(pressure_pa=log["value"] * 1_000 + 100_000, counts=(log["value"] * 0.01).abs())
    roles, view = _resolved(log)
    figure, _ = view_figure(log, roles, view, 20_000)
    assert {trace.get("yaxis", "y") for trace in figure["data"]} == {"y", "y2", "y3"}  # one panel per measure
    legend = [trace["name"] for trace in figure["data"] if trace["showlegend"]]
    assert legend == ["s1", "s2", "s3"]
    colours = {(trace["name"], trace["line"]["color"]) for trace in figure["data"]}
    assert len(colours) == 3  # each sensor the same colour in every panel


def test_a_table_of_text_only_draws_counts_per_category_coloured_by_a_second():
    answers = ["Agree", "Disagree", "Neutral", "Strongly agree", "Strongly disagree"]
    rows = [
        (f"R{person:03d}", f"Q{question}", answers[(person * question) % 5])
        for person in range(40)
        for question in (1, 2, 3, 4)
    ]
    frame = pd.DataFrame(rows, columns=["respondent", "question", "answer"])
    roles, view = _resolved(frame)
    figure, _ = view_figure(frame, roles, view, 20_000)
    assert {trace["type"] for trace in figure["data"]} == {"bar"}
    assert sorted(trace["name"] for trace in figure["data"]) == answers  # coloured by the answer
    assert all(trace["x"] == ["Q1", "Q2", "Q3", "Q4"] for trace in figure["data"])
    assert sum(sum(trace["y"]) for trace in figure["data"]) == len(frame)  # every row counted once
    assert figure["layout"]["yaxis"]["title"]["text"] == "count of question"
