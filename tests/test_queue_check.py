"""The run to completion's queue check: the most DCR requests in service at once.

`most_in_service` (two sorts and a search) decides whether a fleet run without a queue
stands or must run again on the event engine, for millions of arrivals. It is held to a
brute-force count at every arrival and to the sweep over start and end events it
replaced, on arrivals with many ties, zero-length services and ends that meet starts.
"""

from __future__ import annotations

from array import array

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.server import most_in_service
from tests.generated import suite_settings


def brute_force(arrivals: list[float], services: list[float]) -> int:
    """Requests in service just after each arrival: arrived by then, not yet ended."""
    ends = [a + s for a, s in zip(arrivals, services, strict=True)]
    return max(
        (sum(1 for a, e in zip(arrivals, ends, strict=True) if a <= t < e) for t in arrivals),
        default=0,
    )


def event_sweep(arrivals: list[float], services: list[float]) -> int:
    """Starts and ends in time order, an end before a start at the same time."""
    if not arrivals:
        return 0
    starts = np.asarray(arrivals)
    ends = starts + np.asarray(services)
    times = np.concatenate([ends, starts])
    deltas = np.concatenate([-np.ones(len(ends)), np.ones(len(starts))])
    return int(np.cumsum(deltas[np.lexsort((deltas, times))]).max())


times = st.one_of(st.integers(0, 6).map(float), st.floats(0.0, 10.0))
spans = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 0.5]), st.floats(0.0, 5.0))
requests = st.lists(st.tuples(times, spans), max_size=40)


@suite_settings("DCRLOAD_QUEUE_EXAMPLES", 150)
@given(requests)
def test_most_in_service_counts_what_a_brute_force_counts(pairs: list[tuple[float, float]]) -> None:
    arrivals = [a for a, _ in pairs]
    services = [s for _, s in pairs]
    most = most_in_service(array("d", arrivals), array("d", services))
    assert most == brute_force(arrivals, services) == max(0, event_sweep(arrivals, services))


def test_an_end_that_meets_an_arrival_frees_its_worker_first() -> None:
    assert most_in_service(array("d", [0.0, 1.0]), array("d", [1.0, 1.0])) == 1
    assert most_in_service(array("d", [0.0, 0.5]), array("d", [1.0, 1.0])) == 2
    assert most_in_service(array("d", [3.0, 3.0, 3.0]), array("d", [0.0, 2.0, 2.0])) == 2
    assert most_in_service(array("d"), array("d")) == 0
