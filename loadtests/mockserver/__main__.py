"""`python -m loadtests.mockserver [ARGS]` is `dcrload mock [ARGS]`."""

import argparse
import sys

from dcrload.core.errors import UsageError
from loadtests.commands import mock

parser = argparse.ArgumentParser(prog="python -m loadtests.mockserver", description=mock.HELP)
mock.add_arguments(parser)
try:
    sys.exit(mock.run(parser.parse_args()))
except UsageError as error:
    print(f"dcrload: error: {error}", file=sys.stderr)
    sys.exit(2)
except KeyboardInterrupt:
    sys.exit(130)
