"""The commands that run the SimPy driver: `simulate` and `compare`.

Each module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
"""
