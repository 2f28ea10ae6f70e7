"""Access tokens: signed JWTs the mock issues and later checks on the API routes.

In the rfc7591 profile they are RFC 9068 JWT access tokens: header ``typ: at+jwt`` and
the claims ``iss``, ``sub`` (the client: a client-credentials grant has no user),
``aud``, ``client_id``, ``scope`` (space-separated), ``iat``, ``nbf``, ``exp``, ``jti``;
the API checks ``typ`` and ``aud``. In the adobe-pass profile: ``typ: JWT`` with ``iss``,
``sub``, ``iat``, ``nbf``, ``exp``, ``scopes`` (a list), ``jti``. Either way the header's
``kid`` is the RFC 7638 thumbprint of the key (`loadtests.mockserver.jwks`), and a token of
any other ``typ`` (a software statement signed with the same key, say) is refused.

ES256 is the default: pyjwt signs about 37,000 ES256 tokens per second per core on the
development machine against about 4,600 RS256, so with ES256 the signature is a small part
of a token request. RS256 (what the real service uses) and EdDSA are available by flag.
The signing key is kept in the store, so tokens stay valid across a restart.

Tokens issued or verified by this process are remembered in a bounded LRU (`TokenMemo`:
at most ``token_memo`` entries, an expired one dropped when met), so the API routes check a
known token with a dict lookup and memory stays flat however many tokens are issued; any
other token is verified in full (header ``typ``, signature, issuer, required claims).
Expiry is checked against the injected clock, never pyjwt's own.

Tokens are signed here, not by ``jwt.encode``: the header segment is the same for every
token, so it is encoded once, and the JWS compact serialisation (RFC 7515 section 7.1) is
three lines; that takes about a third off the cost of issuing one (measured on 2026-12-01:
pyjwt 97 µs, this 68 µs for ES256, of which the signature is 49). The claims are written
into a template made once per issuer, the strings escaped by ``json``'s own encoder, which
is what ``json.dumps`` writes for them (1.3 against 5.6 µs, measured on 2026-12-01; a test
holds the two equal).
Verification stays with pyjwt, so every test that decodes an issued token checks this
encoding against it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from loadtests.mockserver.bodies import BadInput, jwt_header, numeric_date
from loadtests.mockserver.jwks import public_jwk
from loadtests.mockserver.statements import LEEWAY
from loadtests.mockserver.store import Store

AT_JWT = "at+jwt"
"""The ``typ`` of an RFC 9068 access token (``application/at+jwt`` is accepted too)."""
REQUIRED = ["iss", "sub", "iat", "exp"]
REQUIRED_9068 = ["iss", "sub", "aud", "client_id", "iat", "exp", "jti"]


class TokenError(Exception):
    """The bearer token is not acceptable; `code` is the enhanced error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid access token says."""

    client_id: str
    issued_at: int
    expires_at: int


def load_or_make_key(store: Store, alg: str) -> Any:
    """The store's token-signing key for `alg`, made (and kept there) the first time."""
    name = f"token-key-{alg}"
    pem = store.get_meta(name)
    if pem is not None:
        return serialization.load_pem_private_key(pem, password=None)
    if alg == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    store.set_meta(
        name,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return key


_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A JSON string literal, as ``json.dumps`` (ensure_ascii) writes it."""


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def signer(key: Any, alg: str) -> Callable[[bytes], bytes]:
    """The JWS signature of `alg` (RFC 7518 section 3) over the signing input, by `key`."""
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def es256(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # section 3.4: R || S

        return es256
    if alg == "EdDSA":
        return key.sign  # type: ignore[no-any-return]
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    return lambda data: key.sign(data, pkcs1, sha256)  # type: ignore[no-any-return]


class TokenMemo:
    """Grants by token, least recently used first; at most `size` of them (0: none)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._grants: OrderedDict[str, Grant] = OrderedDict()

    def __len__(self) -> int:
        return len(self._grants)

    def get(self, token: str, now: float) -> Grant | None:
        grant = self._grants.get(token)
        if grant is None:
            return None
        if now >= grant.expires_at:
            del self._grants[token]  # verified again (and refused as expired) if it comes back
            return None
        self._grants.move_to_end(token)
        return grant

    def put(self, token: str, grant: Grant) -> None:
        if self.size <= 0:
            return
        self._grants[token] = grant
        self._grants.move_to_end(token)
        while len(self._grants) > self.size:
            self._grants.popitem(last=False)


class TokenIssuer:
    """Signs access tokens and verifies bearer tokens presented to the API."""

    def __init__(
        self,
        store: Store,
        alg: str,
        issuer: str,
        scopes: tuple[str, ...],
        clock: Callable[[], float],
        audience: str | None = None,
        memo: int = 16_384,
    ) -> None:
        self.alg = alg
        self.audience = audience
        self.typ = AT_JWT if audience is not None else "JWT"
        self.issuer = issuer
        self.scopes = list(scopes)
        self.private_key = load_or_make_key(store, alg)
        self.public_key = self.private_key.public_key()
        self.jwk = public_jwk(self.public_key, alg)
        self.kid = self.jwk["kid"]
        header = {"alg": alg, "kid": self.kid, "typ": self.typ}
        self._header_segment = _b64(json.dumps(header, separators=(",", ":")).encode()) + b"."
        self._claims_head = '{"iss":' + _json_string(issuer) + ',"sub":'
        if audience is None:
            self._claims_tail = ',"scopes":' + json.dumps(self.scopes, separators=(",", ":"))
        else:  # RFC 9068 section 2.2; the client's id goes between the two parts
            self._claims_tail = ',"aud":' + _json_string(audience) + ',"client_id":'
        self._scope = _json_string(" ".join(self.scopes))
        self._sign = signer(self.private_key, alg)
        self._clock = clock
        self.memo = TokenMemo(memo)
        self._typ_aliases = ("application/at+jwt",) if audience is not None else ()

    def issue(
        self, client_id: str, lifetime: int, exp_offset: int | None = None
    ) -> tuple[str, str, int]:
        """Sign a token for `client_id` living `lifetime` seconds; return (token, jti, iat)."""
        iat = int(self._clock())
        exp = iat + (lifetime if exp_offset is None else exp_offset)
        jti = secrets.token_hex(12)
        sub = _json_string(client_id)
        claims = f'{self._claims_head}{sub},"iat":{iat},"nbf":{iat},"exp":{exp},"jti":"{jti}"'
        if self.audience is None:
            claims += self._claims_tail + "}"
        else:
            claims += f'{self._claims_tail}{sub},"scope":{self._scope}}}'
        signing_input = self._header_segment + _b64(claims.encode())
        token = (signing_input + b"." + _b64(self._sign(signing_input))).decode("ascii")
        self.memo.put(token, Grant(client_id, iat, exp))
        return token, jti, iat

    def check(self, token: str, allow_expired: bool = False) -> Grant:
        """The grant of a valid `token`; raise `TokenError` otherwise."""
        now = self._clock()
        grant = self.memo.get(token, now)
        if grant is None:
            grant = self._verify(token)
            if now < grant.expires_at:
                self.memo.put(token, grant)
        if not allow_expired and self._clock() >= grant.expires_at:
            raise TokenError("expired_access_token", "The access token has expired.")
        return grant

    def _verify(self, token: str) -> Grant:
        try:
            header = jwt_header(token)
        except BadInput:
            raise TokenError("invalid_access_token", "The access token is not valid.") from None
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in (self.typ.lower(), *self._typ_aliases):
            # e.g. a software statement signed with the token key: not an access token
            raise TokenError("invalid_access_token", "The token is not an access token.")
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[self.alg],
                issuer=self.issuer,
                audience=self.audience,
                options={
                    "require": REQUIRED_9068 if self.audience is not None else REQUIRED,
                    "verify_aud": self.audience is not None,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            iat, exp, nbf = (numeric_date(claims, name) for name in ("iat", "exp", "nbf"))
        except (jwt.PyJWTError, BadInput):
            raise TokenError("invalid_access_token", "The access token is not valid.") from None
        assert iat is not None and exp is not None  # required above
        if (
            not isinstance(claims["sub"], str)
            or iat > self._clock() + LEEWAY
            or (self.audience is not None and claims["client_id"] != claims["sub"])
        ):
            raise TokenError("invalid_access_token", "The access token is not valid.")
        grant = Grant(claims["sub"], int(iat), int(exp))
        if nbf is not None and self._clock() < nbf:
            raise TokenError("invalid_access_token", "The access token is not yet valid.")
        return grant
