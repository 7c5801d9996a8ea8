"""Every file shape is refused with a sentence or drawn: generated files through every layer.

Each generated CSV or Parquet file (``tests/file_shapes.py``) goes through the checks stored
data gets; a refused file must come back as sentences (never another exception), an accepted
one must get roles, a default view, a figure for every column as x, a table page sorted by
every column, and downloads, all without raising, and no text sent to a browser may be longer
than ``DISPLAY_CELL_CHARS``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from plotly.utils import PlotlyJSONEncoder

from components.data_table import column_defs
from components.figures import default_figure, view_figure
from data_access.downloads import file_chunks
from data_access.frame_store import decode_frame, encode_frame, frame_bytes
from data_access.parsing import DISPLAY_CELL_CHARS, ParseError, load_table
from data_access.roles import detect_roles, parse_time_columns
from data_access.table_query import PageRequest, TableQuery
from data_access.validation import Schema, validate_upload
from data_access.view_state import ViewState
from tests.file_shapes import FUZZ_MAX_CELL_CHARS, FUZZ_MAX_COLUMNS, generated_files

STORED = Schema.parse(
    "", None, 64 * 2**20, max_columns=FUZZ_MAX_COLUMNS, max_cell_chars=FUZZ_MAX_CELL_CHARS
).for_stored_data()
SEEDS = range(4)
FILES_PER_SEED = 80
MAX_POINTS = 200


def _texts_sent(value: object) -> list[str]:
    """Every string in a JSON-ready value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts_sent(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _texts_sent(item)]
    return []


def _draw(frame: pd.DataFrame, every_view: bool = True) -> None:
    """What the dashboards do with a taken-up frame; raises on the first thing that fails.

    ``every_view``: every column as x and every sort, not only the default view and first page.
    """
    frame = parse_time_columns(frame)
    assert frame_bytes(frame) >= 0
    frame = decode_frame(encode_frame(frame))  # what other workers receive through the shared cache
    roles = detect_roles(frame)
    views = [ViewState()]
    if every_view:
        views += [ViewState(x=column) for column in roles.roles]
        views += [ViewState(color=column) for column in roles.category]
        views += [ViewState(filters={column: values[:1]}) for column, values in roles.category_values.items()]
    for requested in views:
        view, _ = requested.resolve(roles)
        figure, _ = view_figure(frame, roles, view, MAX_POINTS)
        json.dumps(figure, cls=PlotlyJSONEncoder)
        for trace in figure["data"]:
            assert all(len(text) <= DISPLAY_CELL_CHARS for text in _texts_sent(trace.get("x")))
    for values in roles.category_values.values():
        assert all(len(value) <= DISPLAY_CELL_CHARS for value in values)  # picker options and axis labels
    json.dumps(column_defs(frame))
    query = TableQuery()
    grid_requests = [{"startRow": 0, "endRow": 100}] + [
        {"startRow": 0, "endRow": 100, "sortModel": [{"colId": f"c{index}", "sort": sort}]}
        for index in range(len(frame.columns) if every_view else 0)
        for sort in ("asc", "desc")
    ]
    for grid_request in grid_requests:
        page = query.page(frame, "g1", PageRequest.from_grid(grid_request, frame))
        assert all(len(text) <= DISPLAY_CELL_CHARS for text in _texts_sent(page.records))
        json.dumps(page.records)
    for file_format in ("csv", "parquet"):
        assert b"".join(file_chunks(frame, file_format))


def _check(filename: str, content: bytes) -> str:
    """``accepted`` or ``refused``; any exception is the test's failure."""
    report = validate_upload(content, filename, STORED, max_bytes=len(content) + 1)
    if not report.ok:
        assert report.problems and all(isinstance(problem, str) and problem for problem in report.problems)
        return "refused"
    _draw(report.frame)
    default_figure(report.frame, MAX_POINTS)  # the admin preview's chart
    return "accepted"


@pytest.mark.parametrize("seed", SEEDS)
def test_every_generated_file_is_refused_with_a_sentence_or_drawn(seed):
    outcomes: dict[str, int] = {}
    for case, filename, content in generated_files(seed, FILES_PER_SEED):
        try:
            outcome = _check(filename, content)
        except Exception as error:
            raise AssertionError(f"{case} ({filename}, {len(content)} bytes) raised {error!r}") from error
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # The corpus exercises both ends: a generator that only made refusals would prove nothing.
    assert outcomes.get("accepted", 0) >= FILES_PER_SEED // 5 and outcomes.get("refused", 0) >= 5, outcomes


@pytest.mark.parametrize("seed", SEEDS)
def test_every_generated_file_parses_or_raises_a_parse_error_without_a_schema(seed):
    for case, filename, content in generated_files(seed, FILES_PER_SEED):
        try:
            frame = load_table(content, filename)
        except ParseError:
            continue
        except Exception as error:
            raise AssertionError(f"{case} ({filename}) raised {error!r}, not a ParseError") from error
        if len(frame):
            _draw(frame, every_view=False)
