"""Column roles from real public datasets (plotly.express ships them offline) and small frames."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.express as px
import pytest

from data_access.roles import ColumnRoles, detect_roles, parse_time_columns
from tests.shapes import sensor_log, stored, training_log, vega


def _as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the app would read it back from a CSV file (dates are text again)."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def _roles(frame: pd.DataFrame) -> ColumnRoles:
    return detect_roles(parse_time_columns(_as_stored(frame)))


def test_stocks_date_text_is_a_sorted_time_column_and_prices_are_measures():
    frame = parse_time_columns(_as_stored(px.data.stocks()))
    roles = detect_roles(frame)
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert roles.time == ["date"] and roles.primary_time == "date" and roles.is_sorted("date")
    assert roles.measure == ["GOOG", "AAPL", "AMZN", "FB", "NFLX", "MSFT"]


def test_gapminder_year_is_time_and_iso_codes_are_identifiers():
    roles = _roles(px.data.gapminder())
    assert roles.time == ["year"]
    assert set(roles.identifier) == {"iso_alpha", "iso_num"}
    assert roles.measure == ["lifeExp", "pop", "gdpPercap"]
    assert roles.category == ["country", "continent"]
    assert roles.category_values["continent"][0] == "Africa"  # most frequent first


def test_tips_text_columns_are_categories_even_one_named_time():
    roles = _roles(px.data.tips())
    assert roles.category == ["sex", "smoker", "day", "time"]
    assert roles.time == []
    assert roles.measure == ["total_bill", "tip", "size"]


def test_identifiers_by_name_by_unique_increasing_integers_and_constants():
    frame = pd.DataFrame(
        {
            "ID": [5, 3, 9, 1],
            "row": [1, 2, 3, 4],
            "user_id": [7, 7, 8, 8],
            "flat": [2.0, 2.0, 2.0, 2.0],
            "value": [1.5, 2.5, 0.5, 9.0],
            "costs": [4, 5, 7, 9],  # increasing, but not row numbers
        }
    )
    roles = detect_roles(frame)
    assert roles.identifier == ["ID", "row", "user_id", "flat"]
    assert roles.measure == ["value", "costs"]


def test_mixed_date_and_text_column_stays_text():
    frame = pd.DataFrame({"when": ["2020-01-01", "2020-01-02", "soon", "2020-01-03"] * 3, "v": range(12)})
    parsed = parse_time_columns(frame)
    assert not pd.api.types.is_datetime64_any_dtype(parsed["when"])
    assert detect_roles(parsed).time == []


def test_sortedness_is_recorded_per_numeric_and_time_column():
    frame = pd.DataFrame({"t": np.arange(10.0), "shuffled": np.array([3, 1, 2, 0, 5, 4, 6, 9, 8, 7]) * 1.5})
    roles = detect_roles(frame)
    assert roles.is_sorted("t") and not roles.is_sorted("shuffled")


def test_high_cardinality_text_is_not_a_category():
    frame = pd.DataFrame({"name": [f"person {i}" for i in range(500)], "score": np.arange(500) % 7})
    roles = detect_roles(frame)
    assert roles.roles["name"] == "text"
    assert "name" not in roles.category_values


def test_live_data_roles_are_computed_once_per_generation(tmp_path):
    from cachelib import SimpleCache

    from data_access import LiveData, LocalFileSource

    path = tmp_path / "data.csv"
    px.data.stocks().to_csv(path, index=False)
    cache = SimpleCache()
    live_data = LiveData(LocalFileSource(path), cache, 0.5)
    generation = live_data.check_version().version.generation
    first = live_data.roles(generation)
    assert first.primary_time == "date"
    assert live_data.roles(generation) is first
    assert pd.api.types.is_datetime64_any_dtype(live_data.frame(generation)["date"])

    calls = []
    for _ in range(3):  # e.g. an aggregated chart that every session on this generation shares
        live_data.derived(generation, ("chart", "?x=date"), lambda _frame: calls.append(1) or len(calls))
    assert calls == [1]


@pytest.mark.parametrize("dataset", ["iris", "wind"])
def test_wide_tables_have_measures_and_categories(dataset):
    roles = _roles(getattr(px.data, dataset)())
    assert roles.measure and roles.category


# -- long tables: a time (or a step), a series category, values ---------------------------


@pytest.mark.parametrize(
    ("frame", "x", "series"),
    [
        (lambda: vega("stocks"), "date", "symbol"),  # sorted by symbol, then date
        (lambda: vega("iowa_electricity"), "year", "source"),  # date text, one row per year and source
        (lambda: stored(sensor_log()), "timestamp", "sensor"),  # sensors interleaved second by second
        (lambda: stored(sensor_log(repeats=2)), "timestamp", "sensor"),  # two readings per second and sensor
        (lambda: stored(px.data.stocks().melt(id_vars="date", var_name="symbol")), "date", "symbol"),
        (lambda: stored(training_log()), "step", "run"),  # a numeric x rising within each run
    ],
)
def test_long_tables_name_their_series_column(frame, x, series):
    roles = detect_roles(frame())
    assert roles.series == {x: series}


@pytest.mark.parametrize(
    "frame",
    [
        lambda: vega("seattle_weather"),  # one row per date: the weather labels days, it splits nothing
        lambda: vega("us_employment"),  # wide: one row per month
        lambda: vega("cars"),  # 12 model years, ~11 cars per year and origin: no series
        lambda: vega("barley"),  # 2 years × 6 sites × 10 varieties
        lambda: stored(px.data.gapminder()),  # 142 countries: too many series; continents hold 28 rows per year
        lambda: stored(px.data.iris()),  # lengths do not rise within a species: no numeric x
        lambda: stored(px.data.stocks()),  # wide
    ],
)
def test_wide_and_category_tables_have_no_series(frame):
    assert detect_roles(frame()).series == {}


def test_repeated_whole_numbers_on_a_grid_of_years_are_time_whatever_their_name():
    gapminder = px.data.gapminder()[["country", "continent", "year", "lifeExp"]]
    assert _roles(gapminder.rename(columns={"year": "period"})).time == ["period"]
    generator = np.random.default_rng(4)
    prices = pd.DataFrame({"shop": ["a", "b", "c", "d"] * 100, "price": generator.integers(1800, 2100, 400)})
    assert _roles(prices).measure == ["price"]  # in the years' range, but no grid of years: a quantity
    sizes = pd.DataFrame({"model": ["a", "b"] * 50, "weight": np.repeat([1800, 1850, 1900, 1950, 2000], 20)})
    assert _roles(sizes).measure == ["weight"]  # steps of 50: rounded sizes, not years
    unique = pd.DataFrame({"founded": np.arange(1900, 2000)})
    assert _roles(unique).time == []  # each value once: nothing groups rows by it


def test_a_text_column_of_numbers_but_one_cell_names_that_cell():
    frame = pd.DataFrame({"day": ["a", "b", "c", "d"], "amount": ["1,234.50", "N/A", "€15", " 42 "]})
    roles = detect_roles(frame)
    assert roles.mixed_text == {"amount": "€15"} and roles.numeric() == []
    assert _roles(px.data.tips()).mixed_text == {}  # categories of words: nothing mixed


@pytest.mark.parametrize("week", ["dates", "numbers"])
def test_store_numbers_in_the_years_range_are_identifiers_not_years(week):
    """A store × week × sales table: store 2001…2040 repeats on a grid of one, yet labels stores."""
    weeks = pd.date_range("2024-01-07", periods=12, freq="W").strftime("%Y-%m-%d") if week == "dates" else range(1, 13)
    frame = pd.DataFrame(
        {"store": np.tile(np.arange(2001, 2041), 12), "week": np.repeat(weeks, 40), "sales": np.arange(480) % 17}
    )
    roles = _roles(frame)
    assert roles.identifier == ["store"] and "store" not in roles.time
    assert _roles(frame.rename(columns={"store": "season"})).time[:1] == ["season"]  # named as years: years


def test_years_without_a_year_name_are_not_time_beside_a_date_column():
    frame = pd.DataFrame(
        {
            "day": np.repeat(pd.date_range("2024-01-01", periods=12).strftime("%Y-%m-%d"), 40),
            "branch_total": np.tile(np.arange(1801, 1841), 12),
        }
    )
    assert _roles(frame).time == ["day"]  # a real time column exists: the whole numbers are a quantity
