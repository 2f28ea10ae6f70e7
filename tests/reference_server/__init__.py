"""An independent RFC 7591 authorization server (Authlib on Flask) for the test suite."""
