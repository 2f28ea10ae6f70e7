"""The SimPy driver and the run-to-completion engine, the server model and their commands."""

import dcrload  # noqa: F401  (chooses compiled or source modules before sim.plainday loads)
