"""`python -m loadtests.mockserver [ARGS]` is `dcrload mock [ARGS]`."""

import sys

from dcrload.cli import main

sys.exit(main(["mock", *sys.argv[1:]]))
