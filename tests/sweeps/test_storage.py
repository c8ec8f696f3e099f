"""SweepFolder: where the user finds a sweep's files, on local storage and on object stores."""

from __future__ import annotations

from sweeps.storage import SweepFolder

S3 = "s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1"


def test_a_local_checkpoint_path_is_its_own_location(tmp_path):
    folder = SweepFolder.in_storage(str(tmp_path), "s")
    checkpoint = str(tmp_path.resolve() / "s" / "trial_000_a" / "checkpoint_000001")
    assert folder.uri_for_path(checkpoint) == checkpoint


def test_a_bucket_path_becomes_a_uri_with_the_storage_query():
    folder = SweepFolder.in_storage(S3, "s")
    assert folder.uri_for_path("bucket/runs/s/trial_000_a/checkpoint_000001") == (
        "s3://bucket/runs/s/trial_000_a/checkpoint_000001"
        "?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1"
    )
