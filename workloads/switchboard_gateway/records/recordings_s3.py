"""Recordings in an S3-compatible bucket (boto3).

Credentials come from the environment as boto3 reads them (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, from a Secret in clusters); `endpoint_url` points at an S3-compatible
store (MinIO, Ceph, …). Reads are ranged `GetObject`s, streamed: a recording is never read whole.
Retention lists the prefix and deletes objects by `LastModified`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from switchboard_api.gateway import S3RecordingsConfig
from switchboard_gateway.records.recordings import RecordingNotFoundError, Span

#: Every request under a timeout (a bucket that stops answering must not hang a worker).
_CLIENT = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
_DELETE_BATCH = 1000  # DeleteObjects' limit


class S3Recordings:
    """Objects `<prefix><namespace>/<agent>/<yyyy>/<mm>/<dd>/<call id>.wav` in one bucket."""

    def __init__(self, config: S3RecordingsConfig, client: object = None) -> None:
        self.bucket, self.prefix = config.bucket, config.prefix
        self._client: Any = client or boto3.client(
            "s3", endpoint_url=config.endpoint_url, region_name=config.region, config=_CLIENT
        )

    def put(self, wav: Path, name: str) -> str:
        """Upload (multipart for large files), then delete the local file."""
        key = f"{self.prefix}{name}"
        self._client.upload_file(str(wav), self.bucket, key, ExtraArgs={"ContentType": "audio/wav"})
        wav.unlink(missing_ok=True)
        return f"s3://{self.bucket}/{key}"

    def _key(self, reference: str) -> str:
        bucket, _, key = reference.removeprefix("s3://").partition("/")
        if not reference.startswith("s3://") or bucket != self.bucket:
            raise RecordingNotFoundError(reference)
        if not key.startswith(self.prefix) or ".." in key.split("/"):
            raise RecordingNotFoundError(reference)
        return key

    def size(self, reference: str) -> int:
        """`HeadObject`'s length."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(reference))
        except ClientError as error:
            raise RecordingNotFoundError(reference) from error
        return int(head["ContentLength"])

    def read(self, reference: str, start: int, end: int) -> Span:
        """A ranged `GetObject`, its body streamed in."""
        try:
            answer = self._client.get_object(
                Bucket=self.bucket, Key=self._key(reference), Range=f"bytes={start}-{end}"
            )
        except ClientError as error:
            raise RecordingNotFoundError(reference) from error
        body = answer["Body"]
        try:
            data = b"".join(body.iter_chunks(64 * 1024))
        finally:
            body.close()
        # "bytes 0-99/1234": the object's size after the slash.
        size = int(str(answer.get("ContentRange", "")).rpartition("/")[2] or len(data))
        return Span(start, start + len(data) - 1, size, data)

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete the prefix's objects last modified before `cutoff`."""
        old: list[dict[str, str]] = []
        pages = self._client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            old.extend(
                {"Key": item["Key"]}
                for item in page.get("Contents", [])
                if item["LastModified"] < cutoff
            )
        for first in range(0, len(old), _DELETE_BATCH):
            batch = old[first : first + _DELETE_BATCH]
            self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        return len(old)
