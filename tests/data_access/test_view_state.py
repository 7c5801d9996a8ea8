"""The view in the URL: parsing, round trips, notices, defaults from roles, and row filters."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.express as px

from data_access.parsing import transform
from data_access.roles import detect_roles, parse_time_columns
from data_access.view_state import ViewState, default_view, filter_rows
from tests.shapes import stored, training_log, vega


def _stored(frame: pd.DataFrame) -> pd.DataFrame:
    return parse_time_columns(pd.read_csv(io.StringIO(frame.to_csv(index=False))))


def test_query_round_trip_keeps_every_choice():
    view = ViewState(
        x="date",
        y=("GOOG", "AAPL"),
        kind="area",
        agg="median",
        color="continent",
        date_from="2018-01-01",
        date_to="2018-06-30",
        filters={"day": ("Sat", "Sun"), "smoker": ("No",)},
        y2="off",
    )
    query = view.to_query()
    assert query.startswith("?x=date&y=GOOG,AAPL&kind=area&agg=median&color=continent&from=2018-01-01")
    assert "f.day=Sat&f.day=Sun" in query
    assert ViewState.from_query(query) == (view, [])
    assert ViewState.from_dict(view.to_dict()) == view


def test_names_with_spaces_and_symbols_survive_the_url():
    view = ViewState(x="Net sales (€)", y=("a&b", "c=d"), filters={"a b": ("x&y",)})
    assert ViewState.from_query(view.to_query())[0] == view


def test_unknown_and_invalid_parameters_are_dropped_with_notices():
    view, notices = ViewState.from_query("?kind=pie&agg=total&from=yesterdayish&utm_source=mail&x=ID")
    assert view == ViewState(x="ID")
    assert len(notices) == 4
    assert any("utm_source" in notice for notice in notices)
    assert any("kind='pie'" in notice for notice in notices)


def test_empty_y_means_cleared_not_default():
    assert ViewState.from_query("?x=date&y=")[0].y == ()
    assert ViewState.from_query("?x=date")[0].y is None
    assert ViewState(x="date", y=()).to_query() == "?x=date&y="


def test_malformed_store_data_becomes_defaults():
    assert ViewState.from_dict({"x": 3, "y": "oops", "kind": "pie", "filters": []}) == ViewState()
    assert ViewState.from_dict(None) == ViewState()


def test_defaults_time_series_draws_lines_of_measures():
    roles = detect_roles(_stored(px.data.stocks()))
    assert default_view(roles) == ViewState(x="date", y=("GOOG", "AAPL", "AMZN", "FB", "NFLX", "MSFT"), kind="line")


def test_defaults_country_year_table_draws_lines_over_the_years_per_continent():
    # One row per country and year: a mean over all years (of population!) per continent misleads;
    # each point aggregates one year's rows of one continent.
    roles = detect_roles(_stored(px.data.gapminder()))
    view = default_view(roles)
    assert view == ViewState(x="year", y=("lifeExp",), kind="line", agg="mean", color="continent")
    assert ViewState().resolve(roles) == (view, [])
    # A chosen x gets the measures of the old default (bars of the mean per continent, all measures).
    chosen = ViewState(x="continent").resolve(roles)[0]
    assert (chosen.kind, chosen.y, chosen.color) == ("bar", ("lifeExp", "pop", "gdpPercap"), None)


def test_defaults_years_without_a_year_name_are_an_ordered_x():
    # The same table with its year column named otherwise: whole numbers 1952, 1957, … repeated per country.
    frame = _stored(px.data.gapminder()[["country", "continent", "year", "pop"]].rename(columns={"year": "Jahr"}))
    roles = detect_roles(frame)
    assert roles.time == ["Jahr"] and roles.measure == ["pop"]
    assert default_view(roles) == ViewState(x="Jahr", y=("pop",), kind="line", agg="mean", color="continent")


def test_defaults_repeated_time_without_a_small_category_draws_lines_of_every_measure():
    years = np.tile(np.arange(1990, 2010), 30)  # 30 readings a year, not in year order, no category
    frame = pd.DataFrame({"year": years, "rain": years % 7 * 1.5, "sun": years % 5 * 100.0})
    assert default_view(detect_roles(frame)) == ViewState(x="year", y=("rain", "sun"), kind="line", agg="mean")


def test_defaults_sample_keeps_the_seed_bars():
    ids = np.arange(1, 21)
    roles = detect_roles(transform(pd.DataFrame({"ID": ids, "first_num": ids % 7, "second_num": ids % 5})))
    assert default_view(roles) == ViewState(x="ID", y=("add_num", "multiply_num"), kind="bar")


def test_defaults_long_table_draws_one_line_per_series_over_time():
    roles = detect_roles(vega("stocks"))
    view = default_view(roles)
    assert view == ViewState(x="date", y=("price",), kind="line", agg="mean", color="symbol")
    resolved, notices = ViewState().resolve(roles)
    assert resolved == view and notices == []
    # What the page writes to the URL is the same parameters as ever: color= carries the series.
    assert ViewState.from_query(view.to_query()) == (view, [])
    assert "color=symbol" in view.to_query()


def test_defaults_long_table_over_a_number_draws_one_line_per_series():
    roles = detect_roles(stored(training_log()))
    assert default_view(roles) == ViewState(x="step", y=("loss",), kind="line", agg="mean", color="run")


def test_a_chosen_x_without_a_colour_on_a_long_table_stays_without_one():
    roles = detect_roles(vega("iowa_electricity"))
    assert ViewState(x="year", y=("net_generation",)).resolve(roles)[0].color is None
    assert ViewState(x="year", color="source").resolve(roles)[0].color == "source"


def test_tables_with_honest_defaults_keep_them():
    # Wide series: lines over time, no colour; categories: bars of the mean per category.
    assert default_view(detect_roles(vega("seattle_weather"))) == ViewState(
        x="date", y=("precipitation", "temp_max", "temp_min", "wind"), kind="line"
    )
    assert default_view(detect_roles(vega("us_employment"))).x == "month"
    iris = default_view(detect_roles(_stored(px.data.iris())))
    assert (iris.x, iris.kind, iris.color) == ("species", "bar", None)


def test_resolve_drops_stale_columns_with_notices_and_fills_defaults():
    roles = detect_roles(_stored(px.data.tips()))
    view, notices = ViewState(x="gone", y=("tip", "nope"), color="size", filters={"day": ("Sat", "Xmas")}).resolve(
        roles
    )
    assert view.x == "sex" and view.y == ("tip",) and view.color is None
    assert view.filters == {"day": ("Sat",)}
    assert len(notices) == 3


def test_resolve_keeps_a_cleared_y():
    roles = detect_roles(_stored(px.data.tips()))
    assert ViewState(x="day", y=()).resolve(roles)[0].y == ()


def test_filter_rows_date_range_on_sorted_time_is_inclusive():
    frame = _stored(px.data.stocks())
    roles = detect_roles(frame)
    rows = filter_rows(frame, ViewState(date_from="2018-03-01", date_to="2018-03-31"), roles)
    assert rows["date"].min() >= pd.Timestamp("2018-03-01")
    assert rows["date"].max() <= pd.Timestamp("2018-03-31 23:59:59")
    assert len(rows) == ((frame["date"] >= "2018-03-01") & (frame["date"] < "2018-04-01")).sum() > 0


def test_filter_rows_values_and_year_range_on_unsorted_columns():
    frame = _stored(px.data.gapminder())
    roles = detect_roles(frame)
    view = ViewState(date_from="1990", date_to="2000", filters={"continent": ("Asia", "Europe")})
    rows = filter_rows(frame, view, roles)
    assert set(rows["continent"]) == {"Asia", "Europe"}
    assert set(rows["year"]) == {1992, 1997}


def test_filter_rows_without_filters_returns_the_frame_itself():
    frame = _stored(px.data.tips())
    assert filter_rows(frame, ViewState(x="day", kind="bar"), detect_roles(frame)) is frame


def test_a_bare_to_date_includes_that_whole_day_and_nothing_after():
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=72, freq="h"), "v": np.arange(72.0)})
    roles = detect_roles(frame)
    rows = filter_rows(frame, ViewState(date_from="2024-01-02", date_to="2024-01-02"), roles)
    assert len(rows) == 24 and rows["when"].dt.day.unique().tolist() == [2]
    shuffled = frame.sample(frac=1, random_state=1)  # the same on an unsorted column (no binary search)
    assert len(filter_rows(shuffled, ViewState(date_to="2024-01-02"), detect_roles(shuffled))) == 48


def test_changes_and_vs_round_trip_through_the_url():
    view, notices = ViewState.from_query("?x=id&changes=1&vs=v12")
    assert (view.changes, view.vs, notices) == (True, "v12", [])
    assert ViewState.from_query(view.to_query())[0] == view
    assert ViewState.from_dict(view.to_dict()) == view
    assert "vs=" not in ViewState(vs="v12").to_query()  # vs means nothing without the switch
    bad, notices = ViewState.from_query("?changes=yes&vs=<b>")
    assert (bad.changes, bad.vs) == (False, None) and len(notices) == 2
