"""Helpers shared by the pipeline's Lambda handlers (the asset root is `lambdas/`, so this is a top-level package)."""
