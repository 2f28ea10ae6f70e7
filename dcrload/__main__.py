"""`python -m dcrload` is the `dcrload` command."""

import sys

from dcrload.cli import main

sys.exit(main())
