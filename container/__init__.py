"""The model image's Python package: SageMaker's `train`, `serve` and `evaluate` entry points for a VW policy."""
