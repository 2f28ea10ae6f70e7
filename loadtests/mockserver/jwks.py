"""The public half of the access-token key as a JWK, and its RFC 7638 thumbprint.

The thumbprint is the ``kid``: a resource server that caches the JWKS sees a new ``kid``
whenever the mock's key changes (each fresh store makes a new key), and two mocks never
share one. RFC 7638 section 3: the SHA-256 of the JSON object of the key's required
members only, in lexicographic order, with no whitespace; base64url without padding.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

REQUIRED_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of `jwk` (a dict with at least its required members)."""
    members = REQUIRED_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Any, alg: str) -> dict[str, Any]:
    """The JWK of `public_key` with ``kid`` (its thumbprint), ``alg`` and ``use: sig``."""
    if alg == "ES256":
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(public_key, as_dict=True)
    elif alg == "RS256":
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    elif alg == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        raise ValueError(f"no JWK for algorithm {alg!r}")
    members = {m: jwk[m] for m in REQUIRED_MEMBERS[jwk["kty"]]}
    return {**members, "kid": thumbprint(members), "alg": alg, "use": "sig"}
