"""The OpenAPI 3.1 document of the public routes, written by hand for the active profile."""

from __future__ import annotations

from typing import Any

from loadtests.mockserver.discovery import JWKS_PATH, METADATA_PATH
from loadtests.mockserver.settings import MockSettings

_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_ENHANCED_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "action": {"type": "string"},
            },
        }
    },
}


_JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty"]}}},
}
_METADATA = {
    "type": "object",
    "required": ["issuer", "token_endpoint", "response_types_supported"],
    "properties": {
        "issuer": {"type": "string"},
        "registration_endpoint": {"type": "string"},
        "token_endpoint": {"type": "string"},
        "jwks_uri": {"type": "string"},
        "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "response_types_supported": {"type": "array", "items": {"type": "string"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _header(name: str, required: bool) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}


def _edge(schema: dict[str, Any]) -> dict[str, Any]:
    """The answers every gated route can give before its own work (gate, shed, faults)."""
    return {
        "408": _json(schema, "The request head or body did not arrive in time"),
        "413": _json(schema, "Request body too large (16 KiB)"),
        "429": _json(schema, "Throttled (per device), or shed under overload (--shed-status 429)"),
        "431": _json(schema, "Request headers too large"),
        "500": _json(schema, "Injected fault (admin error-rate)"),
        "502": _json(schema, "Injected fault (admin error-rate)"),
        "503": _json(schema, "Outage, injected fault, or shed under overload (Retry-After)"),
        "504": _json(schema, "Injected fault (admin error-rate)"),
    }


def build_openapi(settings: MockSettings) -> dict[str, Any]:
    """The document; every status a route can answer with is listed (the fuzzers check)."""
    paths = settings.resolved_paths
    adobe = settings.profile == "adobe-pass"
    device = [_header("X-Device-Info", adobe)]
    ok_register, ok_token = "201", "201" if adobe else "200"
    register_body: dict[str, Any] = {
        "type": "object",
        "required": ["software_statement"],
        "properties": {
            "software_statement": {"type": "string"},
            "redirect_uri": {"type": "string"},
            "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "client_name": {"type": "string"},
            "grant_types": {"type": "array", "items": {"type": "string"}},
            "token_endpoint_auth_method": {
                "type": "string",
                "enum": ["client_secret_basic", "client_secret_post"],
            },
        },
    }
    client = {
        "type": "object",
        "required": ["client_id", "client_secret", "client_id_issued_at"],
        "properties": {
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "client_id_issued_at": {"type": "integer"},
            "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "grant_types": {"type": "array", "items": {"type": "string"}},
        },
    }
    token_form = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
    }
    token = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer"},
            "created_at": {"type": "integer", "description": "milliseconds since the epoch"},
            "id": {"type": "string"},
        },
    }
    api_params = [
        {"name": "serviceProvider", "in": "path", "required": True, "schema": {"type": "string"}},
        _header("AP-Device-Identifier", adobe),
    ]
    mvpd = {"name": "mvpd", "in": "path", "required": True, "schema": {"type": "string"}}
    secured = [{"bearer": []}]
    obj = {"type": "object"}
    api_errors = {
        "400": _json(_ENHANCED_ERROR, "Bad request, device identifier, service provider or MVPD"),
        "401": _json(_ENHANCED_ERROR, "Missing, invalid, expired or revoked access token"),
        **_edge(_ENHANCED_ERROR),
    }
    oauth_edge = _edge(_OAUTH_ERROR)
    resources_body = {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"resources": {"type": "array", "items": {"type": "string"}}},
                }
            }
        },
    }
    authorize = {
        "summary": "Authorization decisions",
        "parameters": [*api_params, mvpd],
        "security": secured,
        "responses": {
            "200": _json(obj, "Decisions"),
            "403": _json(_ENHANCED_ERROR, "No authenticated profile"),
            **api_errors,
        },
    }
    plain = {
        "400": _json(_OAUTH_ERROR, "Bad request"),
        "408": oauth_edge["408"],
        "413": oauth_edge["413"],
        "431": oauth_edge["431"],
    }
    extra: dict[str, Any] = {
        JWKS_PATH: {
            "get": {
                "summary": "The access-token signing key (JWK Set, RFC 7517)",
                "responses": {"200": _json(_JWKS, "JWK Set"), **plain},
            }
        }
    }
    if not adobe:
        extra[METADATA_PATH] = {
            "get": {
                "summary": "Authorization server metadata (RFC 8414)",
                "responses": {"200": _json(_METADATA, "Metadata"), **plain},
            }
        }
    prefix = f"{paths.api_prefix}/{{serviceProvider}}"
    return {
        "openapi": "3.1.0",
        "info": {"title": f"dcrload mock DCR service ({settings.profile})", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            paths.register: {
                "post": {
                    "summary": "Register a client with a software statement",
                    "parameters": device,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": register_body}},
                    },
                    "responses": {
                        ok_register: _json(client, "Client registered"),
                        "200": _json(client, "Client registered (quirk register-200)"),
                        "400": _json(_OAUTH_ERROR, "Refused"),
                        **oauth_edge,
                    },
                }
            },
            paths.token: {
                "post": {
                    "summary": "Obtain an access token with the client credentials",
                    "parameters": device,
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": token_form}},
                    },
                    "responses": {
                        ok_token: _json(token, "Token issued"),
                        "400": _json(_OAUTH_ERROR, "Refused"),
                        "401": _json(_OAUTH_ERROR, "Client authentication failed (rfc7591)"),
                        **oauth_edge,
                    },
                }
            },
            f"{prefix}/configuration": {
                "get": {
                    "summary": "Service provider configuration",
                    "parameters": api_params,
                    "security": secured,
                    "responses": {"200": _json(obj, "Configuration"), **api_errors},
                }
            },
            f"{prefix}/profiles": {
                "get": {
                    "summary": "Profiles bound to the calling client",
                    "parameters": api_params,
                    "security": secured,
                    "responses": {"200": _json(obj, "Profiles"), **api_errors},
                }
            },
            f"{prefix}/authenticate/{{mvpd}}": {
                "post": {
                    "summary": "Authenticate with an MVPD: create a profile for this client",
                    "parameters": [*api_params, mvpd],
                    "security": secured,
                    "requestBody": resources_body,
                    "responses": {"201": _json(obj, "Profile created"), **api_errors},
                }
            },
            f"{prefix}/decisions/authorize/{{mvpd}}": {
                "post": {**authorize, "requestBody": resources_body},
                "get": {
                    **authorize,
                    "parameters": [
                        *authorize["parameters"],
                        {
                            "name": "resources",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                    ],
                },
            },
            "/healthz": {
                "get": {"summary": "Readiness", "responses": {"200": _json(obj, "Ready"), **plain}}
            },
            **extra,
        },
    }
