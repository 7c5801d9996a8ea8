"""CSV/Parquet writing for downloads: formula neutralisation, chunking, names (pure logic)."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pyarrow.parquet as pq

from data_access.downloads import csv_chunks, download_name, parquet_chunks, version_label

FRAME = pd.DataFrame(
    {
        "=cmd": ['=HYPERLINK("http://x")', "+1+2", "-3", "@SUM(A1)", "\tTAB", "\rCR", "plain", None, "-2.5e3"],
        "n": [-3, 1, 2, 3, 4, 5, 6, 7, 8],
    }
)


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(), newline="")))


def test_formula_cells_get_a_quote_and_numbers_stay_numbers():
    rows = _rows(b"".join(csv_chunks(FRAME, chunk_rows=4)))
    assert rows[0] == ["'=cmd", "n"]
    assert [row[0] for row in rows[1:]] == [
        '\'=HYPERLINK("http://x")',
        "'+1+2",
        "-3",
        "'@SUM(A1)",
        "'\tTAB",
        "'\rCR",
        "plain",
        "",
        "-2.5e3",
    ]
    assert [row[1] for row in rows[1:]] == ["-3", "1", "2", "3", "4", "5", "6", "7", "8"]


def test_csv_is_written_in_chunks_of_rows():
    pieces = list(csv_chunks(FRAME, chunk_rows=4))
    assert len(pieces) == 1 + 3  # header, then 4 + 4 + 1 rows
    assert pd.read_csv(io.BytesIO(b"".join(pieces)))["n"].tolist() == FRAME["n"].tolist()


def test_parquet_round_trips_with_one_row_group_per_piece():
    pieces = list(parquet_chunks(FRAME, row_group_rows=4))
    content = b"".join(pieces)
    assert pq.ParquetFile(io.BytesIO(content)).num_row_groups == 3
    assert pd.read_parquet(io.BytesIO(content)).equals(FRAME)  # Parquet keeps values as they are


def test_file_names_carry_dataset_and_version():
    assert version_label({"version": "12"}, "2026-12-01T14:07:00+00:00") == "v12"
    assert version_label({}, "2026-12-01T14:07:00+00:00") == "20261201-1407"
    assert download_name("data/sales 2024.csv", "v12", "csv") == "sales_2024-v12.csv"
    assert download_name("data.parquet", "v3", "parquet", filtered=True) == "data-v3-filtered.parquet"


def test_dates_stay_dates_and_times_keep_their_time():
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "at": pd.to_datetime(["2024-01-01 10:30", "2024-01-02 00:00"]),
        }
    )
    rows = _rows(b"".join(csv_chunks(frame)))
    assert [row[0] for row in rows[1:]] == ["2024-01-01", "2024-01-02"]
    assert [row[1][:19] for row in rows[1:]] == ["2024-01-01 10:30:00", "2024-01-02 00:00:00"]
