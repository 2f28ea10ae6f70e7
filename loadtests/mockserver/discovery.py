"""RFC 8414 authorization server metadata (rfc7591 profile) and where the JWKS is.

A client or a resource server finds everything it needs from the issuer alone:
``GET /.well-known/oauth-authorization-server`` gives the registration and token
endpoints, the client authentication methods and grant types the mock supports, and the
``jwks_uri`` (``/.well-known/jwks.json``, both profiles) whose key verifies the access
tokens. The adobe-pass profile publishes no metadata, like the real service.
"""

from __future__ import annotations

from typing import Any

from loadtests.mockserver.dcr import AUTH_METHODS
from loadtests.mockserver.settings import MockSettings

METADATA_PATH = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/.well-known/jwks.json"


def issuer_url(settings: MockSettings, request_base: str) -> str:
    """The issuer identifier: the configured issuer when it is a URL, else this server's."""
    if settings.issuer.startswith(("http://", "https://")):
        return settings.issuer.rstrip("/")
    return request_base.rstrip("/")


def authorization_server_metadata(settings: MockSettings, request_base: str) -> dict[str, Any]:
    """The RFC 8414 section 2 metadata document."""
    base = issuer_url(settings, request_base)
    paths = settings.resolved_paths
    return {
        "issuer": base,
        "registration_endpoint": base + paths.register,
        "token_endpoint": base + paths.token,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],  # no authorization endpoint: no response type
        "scopes_supported": list(settings.scopes),
    }
