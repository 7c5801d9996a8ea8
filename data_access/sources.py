"""Where the data lives: the interface every storage back end (gcs_source, local_source) implements.

A *version* is one immutable state of the data: ``current_version()`` is cheap, ``read(generation)`` returns exactly
that version, and ``write`` replaces the live version only if it is still the one the writer expected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class StorageError(RuntimeError):
    """Storage could not be reached or answered with an error."""


class LocationMissing(StorageError):
    """The configured place does not exist (e.g. a misspelt bucket): retrying will not help."""


class GenerationNotFound(StorageError):
    """The requested version no longer exists (it was replaced or deleted)."""


class VersionConflict(RuntimeError):
    """Someone else published after the version the writer expected; nothing was written."""

    def __init__(self, current: DataVersion | None) -> None:
        super().__init__("the data changed since it was read")
        self.current = current


@dataclass(frozen=True)
class DataVersion:
    """Metadata of one version of the data: cheap to fetch, small to cache and to send."""

    generation: str
    updated: str  # ISO 8601, UTC
    size: int
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataVersion:
        return cls(**values)


class DataSource(Protocol):
    """What the rest of the app needs from a place that holds the data."""

    #: Stable text naming the data's location; used in cache keys.
    location: str
    #: File name of the data, used to pick a parser (``.csv``, ``.parquet``).
    name: str

    def current_version(self) -> DataVersion | None:
        """The live version, or ``None`` when nothing has been published yet."""
        ...

    def read(self, generation: str) -> bytes:
        """The bytes of exactly ``generation``; :class:`GenerationNotFound` if it is gone."""
        ...

    def write(self, content: bytes, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        """Make ``content`` live if ``expected_generation`` still is (``None``: none is), else VersionConflict."""
        ...

    def history(self, limit: int) -> list[DataVersion]:
        """Known versions, newest first (the live one included)."""
        ...
