"""Firehose's limits, which every producer batches by and the local runtime enforces.

From the Amazon Data Firehose API Reference, PutRecordBatch: "Each PutRecordBatch request supports up to 500
records. Each record in the request can be as large as 1,000 KB (before base64 encoding), up to a limit of 4 MB for
the entire request. These limits cannot be changed." (https://docs.aws.amazon.com/firehose/latest/APIReference/
API_PutRecordBatch.html); the quotas page gives the record limit as 1,000 KiB.
"""

from __future__ import annotations

MAX_RECORD_BYTES = 1000 * 1024
"""Largest record (its data blob before base64), PutRecord or PutRecordBatch: 1,000 KiB."""
MAX_BATCH_RECORDS = 500
"""Most records in one PutRecordBatch call."""
MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Most data in one PutRecordBatch call: 4 MiB."""
MAX_BUFFER_SECONDS = 900
"""The largest buffer interval a delivery stream can have: the most a record can wait in Firehose before it is
written to S3 (`BufferingHints.IntervalInSeconds`, 0-900)."""
