"""Benchmark data: random CSVs shaped like the sample, published to an emulator bucket."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BLOB_NAME = "data/data.csv"


def sample_csv(rows: int, seed: int = 0) -> bytes:
    """``rows`` rows of ``ID,first_num,second_num`` with random small ints, as CSV bytes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "ID": np.arange(1, rows + 1),
            "first_num": rng.integers(1, 100, rows),
            "second_num": rng.integers(1, 100, rows),
        }
    )
    return frame.to_csv(index=False).encode()


def create_bucket(client: Any, name: str) -> Any:
    """A new versioned bucket (old generations stay readable, as in production)."""
    bucket = client.bucket(name)
    bucket.versioning_enabled = True
    return client.create_bucket(bucket)


def publish(bucket: Any, content: bytes) -> str:
    """Upload ``content`` as the live object; returns its new generation."""
    blob = bucket.blob(BLOB_NAME)
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)
