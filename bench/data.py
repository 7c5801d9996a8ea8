"""Benchmark data: random CSVs shaped like the sample, published to an emulator bucket."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BLOB_NAME = "data/data.csv"


def sample_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of ``ID,first_num,second_num`` with random small ints."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ID": np.arange(1, rows + 1),
            "first_num": rng.integers(1, 100, rows),
            "second_num": rng.integers(1, 100, rows),
        }
    )


def sample_csv(rows: int, seed: int = 0) -> bytes:
    """:func:`sample_frame` as CSV bytes."""
    return sample_frame(rows, seed).to_csv(index=False).encode()


def create_bucket(client: Any, name: str, versioned: bool = True) -> Any:
    """A new bucket, versioned by default (old generations stay readable, as in production)."""
    bucket = client.bucket(name)
    bucket.versioning_enabled = versioned
    return client.create_bucket(bucket)


def publish(bucket: Any, content: bytes) -> str:
    """Upload ``content`` as the live object; returns its new generation."""
    blob = bucket.blob(BLOB_NAME)
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)
