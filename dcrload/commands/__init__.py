"""One module per `dcrload` sub-command.

Each module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`;
`dcrload.cli` lists them in `COMMANDS`. A command raises `dcrload.errors.UsageError` for
bad input; the command line turns it into one line on stderr and exit status 2.
"""
