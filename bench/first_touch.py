"""What first touches of memory cost on this machine, by how long ago the memory was freed.

On a VM whose host takes freed guest memory back (virtio-balloon free page reporting),
memory a process frees is reclaimed by the host within seconds; touching new memory then
costs a host fault per page. Every take-up of a generation allocates about its frame's
size anew, so on such a machine its time depends on the host as much as on the code.

Run: ``python -m bench.first_touch``. Prints, for each pause between freeing 80 MB and
allocating 80 MB again, the time to fill the new array, and its ratio to no pause.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

ARRAY_MB = 80
PAUSES_SECONDS = (0.0, 1.0, 2.0, 4.0, 8.0)
REPEATS = 3


def fill_seconds(pause: float, source: np.ndarray) -> float:
    """Free a fresh array, wait ``pause`` s, then time making a new one from ``source``."""
    freed = source + source
    del freed
    time.sleep(pause)
    started = time.perf_counter()
    fresh = source + source
    seconds = time.perf_counter() - started
    del fresh
    return seconds


def measure(pauses: tuple[float, ...] = PAUSES_SECONDS, repeats: int = REPEATS) -> dict[float, float]:
    """Median fill time of a new ARRAY_MB array after each pause."""
    source = np.ones(ARRAY_MB * 2**20 // 8)
    return {pause: statistics.median(fill_seconds(pause, source) for _ in range(repeats)) for pause in pauses}


def summary(medians: dict[float, float]) -> str:
    """One sentence: cost per MB of new memory with no pause and after the longest one."""
    longest = max(medians)
    return (
        f"First touch of new memory on this machine: {medians[0.0] * 1000 / ARRAY_MB:.2f} ms per MB right after a "
        f"free, {medians[longest] * 1000 / ARRAY_MB:.2f} ms per MB {longest:g} s after it "
        f"({medians[longest] / medians[0.0]:.0f}×; python -m bench.first_touch)."
    )


def main() -> None:
    from bench.bench import table  # bench.bench imports this module

    medians = measure()
    rows = [
        [
            f"{pause:g} s",
            f"{seconds * 1000:.0f} ms",
            f"{seconds * 1000 / ARRAY_MB:.2f} ms",
            f"{seconds / medians[0.0]:.1f}×",
        ]
        for pause, seconds in medians.items()
    ]
    print(f"New {ARRAY_MB} MB array after freeing one, median of {REPEATS}:\n")
    print(table(["pause after the free", "fill time", "per MB", "vs no pause"], rows))
    print("\n" + summary(medians))


if __name__ == "__main__":
    main()
