"""The suite's order: the tests of each xdist group first.

A group (``xdist_group`` mark) runs on one worker, because its fixtures are costly, so its
tests take tens of seconds together (test_scale's 52 s, the README's 49 s, measured on
2026-12-01). xdist hands out work in collection order: a group collected late starts
when the other workers are nearly done and holds the whole run up. Collected first, the
groups start at once and the many short ungrouped tests fill the other workers around
them. The sort is stable, so every module keeps its own order.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)
