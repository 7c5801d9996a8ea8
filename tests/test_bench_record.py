"""``bench.record``: every run of ``make bench`` / ``make load`` is appended, dated, to docs/benchmarks."""

from __future__ import annotations

import re
import sys

from bench.record import run_and_record


def test_each_run_is_appended_with_its_date_command_and_output(tmp_path):
    first = [sys.executable, "-c", 'print("| streams | 10 |")']
    second = [sys.executable, "-c", 'import sys; print("| streams | 20 |"); sys.exit(3)']
    assert run_and_record("load", first, tmp_path) == 0
    assert run_and_record("load", second, tmp_path) == 3
    text = (tmp_path / "load.md").read_text()
    headings = re.findall(r"^## (\d{4}-\d\d-\d\d \d\d:\d\d UTC) — `python -c (.*)`$", text, flags=re.MULTILINE)
    assert [command for _, command in headings] == [
        """'print("| streams | 10 |")'""",
        """'import sys; print("| streams | 20 |"); sys.exit(3)'""",
    ]
    assert text.index("| streams | 10 |") < text.index("| streams | 20 |")
    assert text.count("Exited with 3") == 1
