"""The admin preview's pieces."""

from __future__ import annotations

import pandas as pd

from components.preview import PREVIEW_ROWS, _first_rows


def test_the_first_rows_show_floats_without_binary_noise_and_blanks_as_blanks():
    frame = pd.DataFrame({"price": [76562344.60949999, float("nan"), 0.1 + 0.2] * 5, "count": range(15)})
    shown = _first_rows(frame)
    assert list(shown["price"][:3]) == ["76562344.6095", "", "0.3"]
    assert list(shown["count"][:3]) == [0, 1, 2] and len(shown) == PREVIEW_ROWS
    assert frame["price"].iloc[0] == 76562344.60949999  # the table itself is not changed
