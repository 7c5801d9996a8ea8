"""Staged uploads: the checks made before any byte is sent, bucket CORS, and staging against the emulator."""

from __future__ import annotations

import requests

from data_access import GCSSource
from data_access.gcs_source import GCSStaging
from data_access.staging import cors_problem, is_upload_id, new_upload_id
from data_access.validation import upload_problem
from testinfra import SAMPLE_CSV

ORIGIN = "https://dash.example.com"
GOOD_RULE = {
    "origin": [ORIGIN],
    "method": ["PUT", "DELETE"],
    "responseHeader": ["Content-Range", "Content-Type", "x-goog-resumable", "Range", "Location"],
}


def test_upload_problem_checks_size_and_name_before_any_byte_is_sent():
    limit = 10**6  # MAX_UPLOAD_MB=1: megabytes of 10^6 bytes
    assert upload_problem("data.csv", 10, limit) is None
    assert upload_problem("data.PARQUET", limit, limit) is None
    assert upload_problem("data.csv", limit + 1, limit) == "The file is 1.01 MB; the limit is 1 MB (MAX_UPLOAD_MB)."
    assert upload_problem("data.csv", 0, limit) == "The file is empty."
    assert upload_problem("book.xlsx", 10, limit) == "Only .csv and .parquet files are accepted (got .xlsx)."
    assert "gzip-compressed" in upload_problem("data.csv.gz", 10, limit)
    for size in (None, -1, "10", True, 1.5):
        assert upload_problem("data.csv", size, limit) == "The file size is missing. Choose the file again."


def test_upload_ids_are_random_hex_and_never_a_path():
    first, second = new_upload_id(), new_upload_id()
    assert first != second and is_upload_id(first)
    for bad in ("../data.csv", "0" * 31, "G" * 32, "a" * 31 + "/", None, 12):
        assert not is_upload_id(bad)


def test_cors_problem_names_what_the_bucket_lacks():
    assert cors_problem([GOOD_RULE], ORIGIN) is None
    assert cors_problem([{**GOOD_RULE, "origin": ["*"]}], ORIGIN) is None
    assert cors_problem([], ORIGIN) == f"the bucket's CORS settings do not allow uploads (PUT) from {ORIGIN}"
    assert "do not allow" in cors_problem([{**GOOD_RULE, "origin": ["https://other.example"]}], ORIGIN)
    assert "do not allow" in cors_problem([{**GOOD_RULE, "method": ["GET"]}], ORIGIN)
    missing = cors_problem([{**GOOD_RULE, "responseHeader": ["Content-Type"]}], ORIGIN)
    assert missing == f"the bucket's CORS rule for {ORIGIN} lacks the headers Content-Range, Range"


def test_stale_staged_objects_are_deleted_and_the_live_object_is_not(bucket, gcs_client):
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)
    source.write(SAMPLE_CSV, None, {})
    staging = GCSStaging(source)
    upload_id = new_upload_id()
    url = staging.start(upload_id, 3, "http://127.0.0.1", "alice")
    assert requests.put(url, data=b"a,b", headers={"Content-Range": "bytes 0-2/3"}, timeout=10).ok
    assert staging.find(upload_id).size == 3

    assert staging.delete_stale(max_age_seconds=3600) == 0  # younger than an hour: kept
    assert staging.delete_stale(max_age_seconds=0) == 1

    assert staging.find(upload_id) is None
    assert source.read(source.current_version().generation) == SAMPLE_CSV
