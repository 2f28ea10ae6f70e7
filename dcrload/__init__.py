"""dcrload: load and refresh-strategy planning for OAuth 2.0 Dynamic Client Registration."""

from dcrload import native as _native

__version__ = "0.1.0"

_native.choose()  # before any compiled module is imported (dcrload/native.py)
