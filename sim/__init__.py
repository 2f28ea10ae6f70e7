"""The SimPy driver: a fleet of app instances running the `dcrload.core.lifecycle` core."""

from sim.fleet import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
