"""The commands that talk HTTP: `loadtest`, `mock`, `probe` and `statement`.

Each module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
"""
