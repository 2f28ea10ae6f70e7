"""A mock of Adobe Pass Authentication's DCR service (and of a generic RFC 7591 server).

`create_app(settings, trusted_keys, store, admin_key, clock)` builds the ASGI app;
`dcrload mock` (or ``python -m loadtests.mockserver``) serves it with uvicorn. See
README.md beside this file.
"""

from loadtests.mockserver.app import create_app
from loadtests.mockserver.settings import MockSettings, ThrottleSettings, settings_from_scenario
from loadtests.mockserver.store import Store

__all__ = ["MockSettings", "Store", "ThrottleSettings", "create_app", "settings_from_scenario"]
