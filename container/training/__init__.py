"""The `train` job: reads joined rows and trains (or warm-starts) a VW policy."""
