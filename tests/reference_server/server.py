"""A reference RFC 7591 authorization server that dcrload did not write.

dcrload's own mock cannot tell us whether dcrload speaks RFC 7591 to *other* servers: it was
written by the same hands. This server is assembled from Authlib's components, on Flask:

- registration: `authlib.oauth2.rfc7591.ClientRegistrationEndpoint` (client metadata
  validated by Authlib's `ClientMetadataClaims`; software statements verified by Authlib
  with a public key given on the command line, or ignored — Authlib's default — without);
- token: `authlib.oauth2.rfc6749.grants.ClientCredentialsGrant` behind Authlib's client
  authentication (``client_secret_basic`` and ``client_secret_post``, each client held to
  the method it registered);
- access tokens: `authlib.oauth2.rfc9068.JWTBearerTokenGenerator` (RFC 9068 JWTs,
  ``typ: at+jwt``) signed with a fresh ES256 key per process, its ``kid`` the RFC 7638
  thumbprint, published at ``/jwks.json``;
- metadata: `authlib.oauth2.rfc8414.AuthorizationServerMetadata`, validated at start and
  served at ``/.well-known/oauth-authorization-server``;
- a protected resource at ``/rs/v1/{route}`` (GET or POST): Authlib's `ResourceProtector`
  with its RFC 9068 `JWTBearerTokenValidator` (signature, ``typ``, ``iss`` = the metadata's
  issuer, ``aud`` = ``{base}/rs``, expiry), for dcrload's ``api`` URL template.

What the server adds is policy a real deployment would have, each a flag: RFC 7591
section 2's default ``response_types: ["code"]`` for a body that omits it, and with it
the demand for ``redirect_uris`` (the case that broke dcrload against an independent
server); an initial access token (section 3); metadata fields it requires; an auth method it
imposes whatever the client asked for (section 3.2.1 allows that); a token ``iss`` that
differs from the metadata's issuer.

For tests, ``GET /_reference/clients`` lists what it stored (no secrets).

    python tests/reference_server/server.py --port 0 [--statement-key PEM|DIR] [--ttl S]
        [--initial-access-token-file FILE] [--require-metadata NAME ...]

Prints ``reference server listening on http://127.0.0.1:PORT`` once it accepts
connections. Binds 127.0.0.1 only. Stdlib, Flask and Authlib only: no dcrload import.

``--wsgi waitress [--threads N]`` serves it as Flask is deployed (Waitress, a production
WSGI server, one process and N threads) instead of Werkzeug's development server: what
`bench/bench_mock.py` measures the mock's token route against.
"""

from __future__ import annotations

import argparse
import hmac
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7591.errors import InvalidRedirectURIError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from flask import Flask, jsonify
from joserfc.jwk import ECKey, KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

LISTENING = "reference server listening on "
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
SCOPES = ["tv.read", "tv.write"]


@dataclass
class Client(ClientMixin):
    """A registered client: what the registration endpoint stored."""

    client_id: str
    client_secret: str
    metadata: dict[str, Any]
    issued_at: int
    tokens: int = 0

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.metadata.get("redirect_uris") or []
        return uris[0] if uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        # RFC 6749 section 3.3: no scope asked for, the client's default (all it may have)
        # — never an empty "scope" claim, which Authlib's own RFC 9068 validator refuses.
        registered = str(self.metadata.get("scope") or " ".join(SCOPES)).split()
        asked = (scope or "").split() or registered
        return " ".join(s for s in asked if s in registered)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.metadata.get("redirect_uris") or [])

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.metadata.get("token_endpoint_auth_method")
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type in (self.metadata.get("response_types") or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.metadata.get("grant_types") or [])


@dataclass
class Store:
    """Clients by id, shared by the server's threads."""

    clients: dict[str, Client] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, client: Client) -> None:
        with self.lock:
            self.clients[client.client_id] = client

    def get(self, client_id: str) -> Client | None:
        with self.lock:
            return self.clients.get(client_id)


@dataclass(frozen=True)
class Policy:
    """What this deployment demands beyond Authlib's defaults."""

    statement_key: Any = None
    statement_algs: tuple[str, ...] = ("ES256", "RS256")
    initial_access_token: str | None = None
    required_metadata: tuple[str, ...] = ()
    ttl: int = 3600
    auth_method: str | None = None
    """Register every client with this token-endpoint auth method, whatever it asked for
    (RFC 7591 section 3.2.1 lets a server replace requested values)."""
    token_issuer: str | None = None
    """The tokens' ``iss`` when it is not the metadata's issuer (a proxy misconfigured)."""


class QuietHandler(WSGIRequestHandler):
    """No access log: a load test would spend its time writing it."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def registration_endpoint(store: Store, policy: Policy, metadata: dict[str, Any]) -> type:
    """Authlib's registration endpoint, told where clients go and what is allowed."""

    class Registration(ClientRegistrationEndpoint):
        software_statement_alg_values_supported = (
            list(policy.statement_algs) if policy.statement_key is not None else None
        )

        def authenticate_token(self, request: Any) -> Any:
            if policy.initial_access_token is None:
                return "open registration"
            scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
            expected = policy.initial_access_token
            if scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected):
                return token
            return None  # Authlib answers access_denied

        def resolve_public_key(self, request: Any) -> Any:
            return policy.statement_key

        def get_server_metadata(self) -> dict[str, Any]:
            # response_types is checked below: Authlib reads an empty list as "omitted".
            return {k: v for k, v in metadata.items() if k != "response_types_supported"}

        def extract_client_metadata(self, request: Any) -> dict[str, Any]:
            sent = request.payload.data if isinstance(request.payload.data, dict) else {}
            client_metadata = super().extract_client_metadata(request)
            for name in policy.required_metadata:
                if name not in client_metadata and name not in sent:
                    raise InvalidClientMetadataError(f"{name} is required by this server")
            if policy.auth_method is not None:
                client_metadata["token_endpoint_auth_method"] = policy.auth_method
            # RFC 7591 section 2: an omitted response_types means ["code"], and a client
            # using a redirect-based flow must register its redirect URIs.
            response_types = sent.get("response_types", ["code"])
            if not isinstance(response_types, list) or not all(
                isinstance(t, str) for t in response_types
            ):
                raise InvalidClientMetadataError("response_types must be an array of strings")
            client_metadata["response_types"] = response_types
            if "code" in response_types and not client_metadata.get("redirect_uris"):
                raise InvalidRedirectURIError(
                    "redirect_uris is required for response_types ['code'] "
                    "(the default when response_types is omitted)"
                )
            return client_metadata

        def save_client(
            self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
        ) -> Client:
            client = Client(
                client_info["client_id"],
                client_info["client_secret"],
                dict(client_metadata),
                client_info["client_id_issued_at"],
            )
            store.add(client)
            return client

    return Registration


def token_generator(
    issuer: str, key_set: KeySet, ttl: int, audience: str
) -> JWTBearerTokenGenerator:
    """Authlib's RFC 9068 generator, signing with `key_set`'s one key, for the client and
    the resource server `audience`."""

    class Generator(JWTBearerTokenGenerator):
        def get_jwks(self) -> KeySet:
            return key_set

        def get_audiences(self, client: Any, user: Any, scope: Any) -> list[str]:
            return [client.get_client_id(), audience]

    return Generator(issuer, alg="ES256", expires_generator=lambda client, grant: ttl)


def resource_protector(issuer: str, key_set: KeySet, audience: str) -> ResourceProtector:
    """Authlib's RFC 9068 validator guarding the resource server's routes."""

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self) -> KeySet:
            return key_set

    protector = ResourceProtector()
    protector.register_token_validator(Validator(issuer, audience))
    return protector


def create_app(policy: Policy, base_url: str) -> tuple[Flask, Store]:
    """The Flask app and its client store, for an issuer at `base_url`."""
    app = Flask("reference_server")
    store = Store()
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"}, auto_kid=True)
    key_set = KeySet([key])
    metadata = AuthorizationServerMetadata(
        {
            "issuer": base_url,
            "token_endpoint": f"{base_url}/oauth/token",
            "registration_endpoint": f"{base_url}/oauth/register",
            "jwks_uri": f"{base_url}/jwks.json",
            "scopes_supported": SCOPES,
            "response_types_supported": ["none"],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
        }
    )
    metadata.validate()

    def query_client(client_id: str) -> Client | None:
        return store.get(client_id)

    def save_token(token: dict[str, Any], request: Any) -> None:
        with store.lock:
            request.client.tokens += 1

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.scopes_supported = SCOPES

    class ClientCredentials(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    server.register_grant(ClientCredentials)
    audience = f"{base_url}/rs"
    issuer = policy.token_issuer or base_url
    server.register_token_generator(
        "client_credentials", token_generator(issuer, key_set, policy.ttl, audience)
    )
    require_token = resource_protector(base_url, key_set, audience)
    server.register_endpoint(registration_endpoint(store, policy, dict(metadata)))

    @app.post("/oauth/register")
    def register() -> Any:
        return server.create_endpoint_response("client_registration")

    @app.post("/oauth/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/.well-known/oauth-authorization-server")
    def well_known() -> Any:
        return jsonify(dict(metadata))

    @app.get("/jwks.json")
    def jwks() -> Any:
        return jsonify(key_set.as_dict(private=False))

    @app.route("/rs/v1/<path:route>", methods=["GET", "POST"])
    @require_token()
    def resource(route: str) -> Any:
        return jsonify({"route": route, "client_id": current_token["client_id"]})

    @app.get("/_reference/clients")
    def clients() -> Any:
        with store.lock:
            listed = [
                {"client_id": c.client_id, "tokens": c.tokens, "metadata": c.metadata}
                for c in store.clients.values()
            ]
        return jsonify({"clients": listed})

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    return app, store


def read_public_key(path: Path, kid: str | None = None) -> ECKey | RSAKey:
    """A statement signer's public key from a PEM file (EC or RSA)."""
    pem = path.read_bytes()
    parameters = {"kid": kid} if kid else None
    try:
        return ECKey.import_key(pem, parameters)
    except (ValueError, TypeError):
        return RSAKey.import_key(pem, parameters)


def read_statement_keys(path: Path) -> ECKey | RSAKey | KeySet:
    """One PEM file, or a directory whose ``<kid>.pub.pem`` files are all trusted (the
    statement's ``kid`` header picks the key)."""
    if not path.is_dir():
        return read_public_key(path)
    files = sorted(path.glob("*.pub.pem"))
    if not files:
        raise SystemExit(f"reference server: no *.pub.pem in {path}")
    return KeySet([read_public_key(f, f.name.removesuffix(".pub.pem")) for f in files])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--statement-key",
        type=Path,
        help="PEM public key that signs software statements, or a directory of <kid>.pub.pem "
        "files (default: statements ignored)",
    )
    parser.add_argument(
        "--initial-access-token-file",
        type=Path,
        help="require this bearer token on registration (RFC 7591 section 3)",
    )
    parser.add_argument(
        "--require-metadata",
        action="append",
        default=[],
        metavar="NAME",
        help="refuse a registration without this client metadata field (repeatable)",
    )
    parser.add_argument("--ttl", type=int, default=3600, help="access-token lifetime (s)")
    parser.add_argument(
        "--token-issuer", help="the tokens' iss claim (default: the metadata's issuer)"
    )
    parser.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        help="register every client with this auth method, whatever it asked for",
    )
    parser.add_argument(
        "--wsgi",
        choices=("werkzeug", "waitress"),
        default="werkzeug",
        help="the WSGI server: Werkzeug's development server, or Waitress (production)",
    )
    parser.add_argument("--threads", type=int, default=4, help="waitress: worker threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    statement_key = None
    if args.statement_key is not None:
        statement_key = read_statement_keys(args.statement_key)
    initial = None
    if args.initial_access_token_file is not None:
        initial = args.initial_access_token_file.read_text().strip()
    policy = Policy(
        statement_key=statement_key,
        initial_access_token=initial,
        required_metadata=tuple(args.require_metadata),
        ttl=args.ttl,
        auth_method=args.auth_method,
        token_issuer=args.token_issuer,
    )
    holder: dict[str, Flask] = {}

    def dispatch(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    if args.wsgi == "waitress":
        return serve_waitress(args, policy, holder, dispatch)
    http = make_server(
        "127.0.0.1", args.port, dispatch, threaded=True, request_handler=QuietHandler
    )
    base_url = f"http://127.0.0.1:{http.server_port}"
    holder["app"], _ = create_app(policy, base_url)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=http.shutdown).start())
    print(LISTENING + base_url, flush=True)
    started = time.monotonic()
    http.serve_forever()
    print(f"reference server stopped after {time.monotonic() - started:.1f} s", flush=True)
    return 0


def serve_waitress(args: argparse.Namespace, policy: Policy, holder: dict, dispatch: Any) -> int:
    """Serve under Waitress until SIGTERM or SIGINT."""
    import logging

    from waitress.server import create_server

    logging.getLogger("waitress").setLevel(logging.ERROR)  # no "queue depth" lines under load
    http: Any = create_server(
        dispatch, host="127.0.0.1", port=args.port, threads=args.threads, ident="reference"
    )
    base_url = f"http://127.0.0.1:{http.effective_port}"
    holder["app"], _ = create_app(policy, base_url)

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(LISTENING + base_url, flush=True)
    started = time.monotonic()
    try:
        http.run()
    except KeyboardInterrupt:
        pass
    finally:
        http.close()
    print(f"reference server stopped after {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
