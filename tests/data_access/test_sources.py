"""Data sources against real storage: fake-gcs-server over HTTP, and files on disk."""

from __future__ import annotations

import os
import threading

import pytest

from data_access import GCSSource, GenerationNotFound, LocalFileSource, StorageError, make_storage_client
from testinfra import CuttingProxy, free_port


def test_gcs_version_changes_on_every_upload_and_carries_metadata(bucket, gcs_client):
    blob = bucket.blob("data/data.csv")
    blob.metadata = {"uploaded_by": "alice@example.com"}
    blob.upload_from_string(b"a\n1\n")
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)

    first = source.current_version()
    bucket.blob("data/data.csv").upload_from_string(b"a\n2\n")
    second = source.current_version()

    assert first.generation != second.generation
    assert first.metadata == {"uploaded_by": "alice@example.com"}
    assert first.size == 4 and first.updated.endswith("+00:00")


def test_gcs_version_check_downloads_nothing(bucket, gcs_client, fake_gcs):
    bucket.blob("data/data.csv").upload_from_string(b"a\n1\n")
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)
    downloads_before = fake_gcs.downloads(bucket.name)
    metadata_before = fake_gcs.metadata_gets(bucket.name)

    source.current_version()

    assert fake_gcs.downloads(bucket.name) == downloads_before
    assert fake_gcs.metadata_gets(bucket.name) == metadata_before + 1


def test_gcs_read_is_pinned_to_the_generation_asked_for(bucket, gcs_client):
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)
    bucket.blob("data/data.csv").upload_from_string(b"old\n")
    old = source.current_version()
    bucket.blob("data/data.csv").upload_from_string(b"new\n")
    new = source.current_version()

    assert source.read(old.generation) == b"old\n"
    assert source.read(new.generation) == b"new\n"


def test_gcs_read_cut_midway_is_retried_and_gives_the_whole_object(bucket, fake_gcs):
    content = b"".join(b"%d,%d\n" % (n, n * 7) for n in range(400_000))  # ~5 MB
    bucket.blob("data/data.csv").upload_from_string(content)
    proxy = CuttingProxy(target_port=fake_gcs.port).start()
    try:
        source = GCSSource(bucket.name, "data/data.csv", make_storage_client("test-project", proxy.url))
        generation = source.current_version().generation
        downloads_before = fake_gcs.downloads(bucket.name)
        proxy.cut_after(2**20, downstream=True)  # the line drops a fifth of the way through the body

        cuts = []

        def reconnect_after_the_cut() -> None:
            if proxy.cut.wait(30):
                cuts.append(proxy.bytes_down)
                proxy.start()

        threading.Thread(target=reconnect_after_the_cut, daemon=True).start()
        assert source.read(generation) == content
        assert cuts and cuts[0] < len(content)
        assert fake_gcs.downloads(bucket.name) >= downloads_before + 2
    finally:
        proxy.stop()


def test_gcs_missing_object_has_no_version_and_unknown_generation_is_not_found(bucket, gcs_client):
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)
    assert source.current_version() is None
    with pytest.raises(GenerationNotFound):
        source.read("12345")


def test_gcs_unreachable_storage_raises_storage_error_quickly(bucket):
    dead_client = make_storage_client("test-project", f"http://127.0.0.1:{free_port()}")
    source = GCSSource(bucket.name, "data/data.csv", dead_client)
    with pytest.raises(StorageError, match="cannot read metadata"):
        source.current_version()


def test_local_version_changes_when_content_is_rewritten(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    source = LocalFileSource(path)
    first = source.current_version()

    path.write_text("a\n22\n")
    second = source.current_version()

    assert first.generation != second.generation
    assert source.read(second.generation) == b"a\n22\n"


def test_local_same_size_rewrite_still_changes_version(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    source = LocalFileSource(path)
    first = source.current_version()
    stat = path.stat()

    path.write_text("a\n2\n")  # same size; force a different mtime as an editor save would
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert source.current_version().generation != first.generation


def test_local_read_of_a_replaced_version_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    source = LocalFileSource(path)
    old = source.current_version()
    path.write_text("a\n1234\n")

    with pytest.raises(GenerationNotFound):
        source.read(old.generation)


def test_local_missing_file_has_no_version(tmp_path):
    assert LocalFileSource(tmp_path / "absent.csv").current_version() is None


def test_gcs_download_pieces_are_kept_in_order_and_one_piece_is_not_copied():
    from data_access.gcs_source import _BodyPieces

    one, pieces = _BodyPieces(), _BodyPieces()
    body = b"a,b\n1,2\n"
    one.write(body)
    for piece in (b"a,b\n", b"1,", b"2\n"):  # a retried download writes the rest after what it had
        pieces.write(piece)
    assert one.value() is body
    assert pieces.value() == body


def test_local_version_read_stays_readable_after_an_edit_on_disk(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    source = LocalFileSource(path)
    old = source.current_version()
    assert source.read(old.generation) == b"a\n1\n"  # the app took it up
    path.write_text("a\n1234\n")

    assert source.read(old.generation) == b"a\n1\n"
    assert old.generation in [version.generation for version in source.history(10)]


def test_local_read_works_where_the_history_cannot_be_kept(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    source = LocalFileSource(path)
    source.history_dir.write_text("not a folder")  # mkdir fails as it would in a read-only folder

    assert source.read(source.current_version().generation) == b"a\n1\n"
