"""Counters for the admin API: requests by route and status, tokens issued."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.requests: defaultdict[str, defaultdict[int, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.tokens_issued = 0
        self.clients_registered = 0
        self.shed = 0  # requests answered 503/429 by load shedding (also counted by status)

    def clear(self) -> None:
        """Every counter back to zero (in place: requests in flight count into it)."""
        self.requests.clear()
        self.tokens_issued = self.clients_registered = self.shed = 0

    def count(self, route: str, status: int) -> None:
        self.requests[route][status] += 1

    def snapshot(self, clients_known: int) -> dict[str, Any]:
        return {
            "requests": {
                route: {str(status): n for status, n in sorted(by_status.items())}
                for route, by_status in sorted(self.requests.items())
            },
            "clients_registered": self.clients_registered,
            "clients_known": clients_known,
            "tokens_issued": self.tokens_issued,
            "shed": self.shed,
        }
