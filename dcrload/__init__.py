"""dcrload: load and refresh-strategy planning for OAuth 2.0 Dynamic Client Registration."""

__version__ = "0.1.0"
