"""A corpus of files an admin might upload by mistake, each with the message it must get."""

from __future__ import annotations

import gzip
import io
import zipfile

GOOD_HEADER = b"ID,first_num,second_num\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", GOOD_HEADER + b"1,2,3\n")
    return buffer.getvalue()


def _rows(count: int) -> bytes:
    return GOOD_HEADER + b"".join(b"%d,1,2\n" % number for number in range(count))


# (case name, file name, content, fragment the message must contain)
BAD_FILES: list[tuple[str, str, bytes, str]] = [
    ("empty", "data.csv", b"", "The file is empty"),
    ("only_whitespace", "data.csv", b"  \n\n \t\n", "The file is empty"),
    ("header_only", "data.csv", GOOD_HEADER, "header but no data rows"),
    ("zip_archive", "data.csv", _zip(), "ZIP archive"),
    ("gzip", "data.csv.gz", gzip.compress(GOOD_HEADER + b"1,2,3\n"), "gzip-compressed"),
    ("gzip_named_csv", "data.csv", gzip.compress(GOOD_HEADER + b"1,2,3\n"), "gzip-compressed"),
    ("png_image", "chart.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
    ("jpeg_image", "photo.csv", b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
    ("pdf", "report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
    ("old_excel", "book.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32, "old Excel"),
    ("xlsx_extension", "book.xlsx", b"ID;first_num\n1;2\n", "Only .csv and .parquet"),
    ("json_named_csv", "data.csv", b'[{"ID": 1, "first_num": 2}]', "looks like JSON"),
    ("html_page", "data.csv", b"<!DOCTYPE html><html><body>404</body></html>", "web page"),
    ("latin1_encoding", "data.csv", GOOD_HEADER + "1,2,3\n2,caf\xe9,3\n".encode("latin-1"), "Line 3, column 6"),
    ("utf16", "data.csv", "ID,first_num,second_num\n1,2,3\n".encode("utf-16"), "UTF-16"),
    ("nul_bytes", "data.csv", GOOD_HEADER + b"1,2\x00,3\n", "NUL byte"),
    ("unclosed_quote", "data.csv", GOOD_HEADER + b'1,"2,3\n2,3,4\n', "never closed"),
    ("extra_field", "data.csv", GOOD_HEADER + b"1,2,3\n2,3,4,5\n", "Line 3 has 4 fields"),
    # An unquoted "1,234.50" in the first row: pandas would take the first field as a row label, shifted.
    ("extra_field_first_row", "data.csv", GOOD_HEADER + b"1,1,234.50,3\n2,3,4\n", "Line 2 has 4 fields"),
    ("duplicate_header", "data.csv", b"ID,first_num,first_num,second_num\n1,2,3,4\n", "appears twice"),
    ("duplicate_header_spaces", "data.csv", b"ID,second_num, second_num,first_num\n1,2,3,4\n", "appears twice"),
    ("blank_header_name", "data.csv", b"ID,,first_num,second_num\n1,2,3,4\n", "Column 2 has no name"),
    ("missing_column", "data.csv", b"ID,first_num\n1,2\n", "'second_num' missing"),
    ("missing_both_columns", "data.csv", b"ID,a,b\n1,2,3\n", "'first_num', 'second_num' missing"),
    ("semicolon_separated", "data.csv", b"ID;first_num;second_num\n1;2;3\n", "semicolon-separated"),
    ("tab_separated", "data.csv", b"ID\tfirst_num\tsecond_num\n1\t2\t3\n", "tab-separated"),
    ("text_in_number_column", "data.csv", GOOD_HEADER + b"1,2,3\n2,two,3\n", "Line 3, column 'first_num' ('two')"),
    ("empty_number", "data.csv", GOOD_HEADER + b"1,2,3\n2,,3\n", "column 'first_num' is empty"),
    # "1,234" is a thousand (every cell groups digits in threes); "1,5" is no number this reader takes.
    ("decimal_comma", "data.csv", GOOD_HEADER + b'1,"1,5",3\n', "('1,5') is not a number"),
    ("infinite_value", "data.csv", GOOD_HEADER + b"1,inf,3\n", "not a finite number"),
    ("too_many_rows", "data.csv", _rows(1_001), "limit is 1,000"),
    ("fake_parquet", "data.parquet", GOOD_HEADER + b"1,2,3\n", "not a Parquet file"),
    ("broken_parquet", "data.parquet", b"PAR1\x00\x00garbage", "Parquet file cannot be read"),
    ("no_extension", "data", GOOD_HEADER + b"1,2,3\n", "without an extension"),
    ("elf_binary", "tool.csv", b"\x7fELF\x02\x01\x01\x00", "a program"),
]

#: Row limit the corpus is checked with (``too_many_rows`` exceeds it).
CORPUS_MAX_ROWS = 1_000
#: Size limit the corpus is checked with, and a file just over it.
CORPUS_MAX_BYTES = 64 * 1024
TOO_LARGE = ("too_large", "big.csv", GOOD_HEADER + b"1,2,3\n" * (CORPUS_MAX_BYTES // 6 + 10), "the limit is")
