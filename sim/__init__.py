"""The SimPy driver and the run-to-completion engine, the server model and their commands."""
