"""Time compression: the driver clock of a load test, in simulated seconds.

The lifecycle and the instance process work in *simulated* seconds from driver time 0.
A load test runs `time_scale` simulated seconds per real second from a wall-clock
`epoch` (the server's time at driver time 0; `dcrload.core.lifecycle.InstanceConfig` takes the
same two numbers to read server times). Everything scenario-timed scales by it: session
lengths, API intervals, token lifetimes (the mock gets ``ttl / time_scale``), fault times
and the diurnal curve. Latency does not: a request still takes its real milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MIN_CLIENT_TIMEOUT = 0.25
"""Real seconds: a scaled client timeout never drops below this (a loaded loopback mock
answers in milliseconds, not in tens of microseconds)."""


@dataclass(frozen=True, slots=True)
class DriverClock:
    """Driver time (simulated seconds) from the wall clock."""

    epoch: float
    scale: float = 1.0

    def now(self) -> float:
        return (time.time() - self.epoch) * self.scale

    def wall(self, t: float) -> float:
        """The wall-clock time at which driver time `t` comes."""
        return self.epoch + t / self.scale

    def real(self, simulated: float) -> float:
        """Real seconds of a simulated span."""
        return simulated / self.scale


def client_timeout(timeout: float, scale: float) -> float:
    """The client's request timeout in real seconds: the scenario's, scaled, with a floor."""
    return max(timeout / scale, MIN_CLIENT_TIMEOUT)


def mock_ttl(ttl: float, scale: float) -> float:
    """The token lifetime the mock issues in a compressed run (whole seconds, at least 1)."""
    return max(1.0, round(ttl / scale))
