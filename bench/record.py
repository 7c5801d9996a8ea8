"""Run a benchmark command and append its output, dated, to a file in ``docs/benchmarks/``.

``python -m bench.record load -- python -m bench.load`` shows the output as it comes and then
adds a section ``## <UTC time> — `<command>` `` with the output in a code block to
``docs/benchmarks/load.md``, so every run ``make bench`` / ``make load`` makes is kept, dated,
beside the command that produced it. Commit the file to keep the run.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from testinfra import REPO

RESULTS_DIR = REPO / "docs" / "benchmarks"


def dated_section(command: list[str], output: str, exit_code: int) -> str:
    """One run as Markdown: a dated heading naming the command, then its output verbatim."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    shown = shlex.join(["python" if Path(part).name.startswith("python") else part for part in command])
    status = "" if exit_code == 0 else f"\nExited with {exit_code}: a target was missed or a step failed.\n"
    return f"\n## {when} — `{shown}`\n{status}\n```\n{output.rstrip()}\n```\n"


def run_and_record(name: str, command: list[str], results_dir: Path = RESULTS_DIR) -> int:
    """Run ``command``, echo its output, append it to ``results_dir/name.md``; returns its exit code."""
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, cwd=REPO) as process:
        for line in process.stdout:  # type: ignore[union-attr]
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    path = results_dir / f"{name}.md"
    if not path.exists():
        path.write_text(f"# {name}\n\nRuns recorded by `python -m bench.record {name} -- …`.\n")
    with path.open("a") as results:
        results.write(dated_section(command, "".join(lines), process.returncode))
    print(f"\nrecorded in {path}")
    return process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the file in docs/benchmarks/, without .md (e.g. load)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    return run_and_record(args.name, command)


if __name__ == "__main__":
    sys.exit(main())
