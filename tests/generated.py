"""Hypothesis settings for the suite's generated tests: the same cases on every run.

`suite_settings("DCRLOAD_X_EXAMPLES", 10)` runs 10 derandomized cases, so the suite is
repeatable; setting the variable runs that many random cases instead, for a longer hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def suite_settings(variable: str, default: int) -> settings:
    return settings(
        max_examples=int(os.environ.get(variable, str(default))),
        deadline=None,
        derandomize=variable not in os.environ,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
