"""The `serve` job: the HTTP server, request validation, the decision app and the decision log to Firehose."""
