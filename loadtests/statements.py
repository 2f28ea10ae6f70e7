"""Signing keys and software statements for the mock service (`dcrload statement`).

A software statement is a JWT that an app carries and presents at registration. It never
expires (it has no ``exp``) but can be revoked by its ``software_id``. We sign it with
ES256 by default: small keys, fast to verify, and supported by every JOSE library; RS256 is
there for servers that accept only RSA.

Header: ``alg``, ``kid`` (the key's id) and ``typ`` = ``software-statement+jwt`` (an
explicit type, in the manner of RFC 8725 section 3.11, so that no other kind of JWT signed
by the same key can pass for a statement). Claims: ``iss``, ``software_id``,
``software_version``, ``iat``.

A keys directory holds ``keys.json`` (the manifest: one entry per key with its ``kid``,
``alg``, ``issuer`` and file names), the PEM files it names and one ``<software_id>.jwt``
per statement. The mock trusts the public keys of a directory and nothing else. This module
reads and writes only the files it is asked to; it raises `dcrload.core.errors.UsageError` for a
directory that is missing or malformed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dcrload.core.errors import UsageError

STATEMENT_TYP = "software-statement+jwt"
"""The ``typ`` header of every statement we sign, and the only one the mock accepts."""

ALGORITHMS = ("ES256", "RS256")
"""Signing algorithms offered; anything else (``none``, HMAC) is never used nor accepted."""

DEFAULT_ISSUER = "dcrload-statement-issuer"
DEFAULT_SOFTWARE_ID = "dcrload-demo"
MANIFEST = "keys.json"

_SOFTWARE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class SigningKey:
    """One key pair (the private half may be absent when only trust is needed)."""

    kid: str
    alg: str
    issuer: str
    public_key: PublicKey
    private_key: PrivateKey | None = None


@dataclass(frozen=True)
class KeySet:
    """The keys of a directory by ``kid``, and the statements found beside them."""

    keys: dict[str, SigningKey]
    statements: dict[str, Path]


def check_software_id(software_id: str) -> str:
    """Return `software_id` if it is a safe file name stem; else raise `UsageError`."""
    if not _SOFTWARE_ID.match(software_id):
        raise UsageError(
            f"software id {software_id!r} must be 1-128 letters, digits, '.', '_' or '-'"
        )
    return software_id


def generate_key(alg: str = "ES256", issuer: str = DEFAULT_ISSUER) -> SigningKey:
    """Make a fresh key pair for `alg` (ES256: P-256; RS256: 2048-bit RSA)."""
    private: PrivateKey
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise UsageError(f"signing algorithm {alg!r} is not one of {', '.join(ALGORITHMS)}")
    kid = f"{alg.lower()}-{secrets.token_hex(6)}"
    return SigningKey(kid, alg, issuer, private.public_key(), private)


def sign_statement(
    key: SigningKey,
    software_id: str,
    software_version: str = "1.0.0",
    issued_at: int | None = None,
    extra_claims: dict[str, Any] | None = None,
    extra_headers: dict[str, Any] | None = None,
) -> str:
    """Sign one software statement with `key` (which must hold its private half)."""
    if key.private_key is None:
        raise UsageError(f"key {key.kid} has no private key to sign with")
    claims: dict[str, Any] = {
        "iss": key.issuer,
        "software_id": check_software_id(software_id),
        "software_version": software_version,
        "iat": int(time.time()) if issued_at is None else issued_at,
    }
    claims.update(extra_claims or {})
    headers = {"kid": key.kid, "typ": STATEMENT_TYP, **(extra_headers or {})}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def _pem_private(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_out(out: Path) -> None:
    """`--out` names a folder; say so in the user's words rather than "File exists"."""
    from dcrload.core.errors import UsageError

    folder = "a folder for the key pair and one <software_id>.jwt per statement"
    if out.suffix == ".jwt" or (out.exists() and not out.is_dir()):
        there = "is a file" if out.is_file() else "looks like a statement file"
        hint = out.parent if str(out.parent) not in ("", ".") else Path("keys")
        raise UsageError(f"--out {out}: {there}; --out names {folder} (e.g. --out {hint})")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--out {out}: {parent} is a file, not a folder")


def write_statements(
    out: Path,
    software_ids: list[str],
    alg: str = "ES256",
    issuer: str = DEFAULT_ISSUER,
    software_version: str = "1.0.0",
    keep_private: bool = True,
) -> tuple[SigningKey, dict[str, Path]]:
    """Write (or reuse) a key pair in `out` and one ``<software_id>.jwt`` per id.

    A key of the same algorithm and issuer already in `out` is reused, so statements for
    more software ids can be added later and the mock keeps trusting the earlier ones.
    With `keep_private` False the private key never touches the disk: a fresh key signs
    the statements in memory and `out` gets only its public half (what the mock trusts),
    so a folder that outlives the run — a results folder, one a SIGKILL left — holds
    nothing that can sign a statement.
    """
    ids = [check_software_id(s) for s in software_ids] or [DEFAULT_SOFTWARE_ID]
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    existing = load_keys(out).keys if keep_private and (out / MANIFEST).exists() else {}
    key = next(
        (
            k
            for k in existing.values()
            if k.alg == alg and k.issuer == issuer and k.private_key is not None
        ),
        None,
    )
    if key is None:
        key = generate_key(alg, issuer)
        assert key.private_key is not None
        if keep_private:
            private_file = out / f"{key.kid}.key.pem"
            descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:  # 0600 from the start, never wider
                handle.write(_pem_private(key.private_key))
            private_file.chmod(0o600)
        (out / f"{key.kid}.pub.pem").write_bytes(_pem_public(key.public_key))
        existing[key.kid] = (
            key if keep_private else SigningKey(key.kid, key.alg, key.issuer, key.public_key)
        )
    written: dict[str, Path] = {}
    for software_id in ids:
        path = out / f"{software_id}.jwt"
        path.write_text(sign_statement(key, software_id, software_version) + "\n")
        written[software_id] = path
    manifest = {
        "keys": [
            {
                "kid": k.kid,
                "alg": k.alg,
                "issuer": k.issuer,
                "public": f"{k.kid}.pub.pem",
                "private": f"{k.kid}.key.pem" if k.private_key is not None else None,
            }
            for k in existing.values()
        ]
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return key, written


def load_keys(directory: Path) -> KeySet:
    """Read a keys directory written by `write_statements`; raise `UsageError` if unusable."""
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = manifest["keys"]
        keys: dict[str, SigningKey] = {}
        for entry in entries:
            alg = entry["alg"]
            if alg not in ALGORITHMS:
                raise UsageError(f"{manifest_path}: key {entry['kid']} has unsupported alg {alg}")
            public = serialization.load_pem_public_key((directory / entry["public"]).read_bytes())
            private = None
            if entry.get("private") and (directory / entry["private"]).exists():
                private = serialization.load_pem_private_key(
                    (directory / entry["private"]).read_bytes(), password=None
                )
            expected = ec.EllipticCurvePublicKey if alg == "ES256" else rsa.RSAPublicKey
            if not isinstance(public, expected):
                raise UsageError(f"{manifest_path}: key {entry['kid']} is not an {alg} key")
            keys[entry["kid"]] = SigningKey(
                entry["kid"],
                alg,
                entry["issuer"],
                public,
                private,  # type: ignore[arg-type]
            )
    except FileNotFoundError as error:
        raise UsageError(f"keys directory {directory}: {error.filename} not found") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"keys directory {directory}: malformed {MANIFEST} ({error})") from None
    if not keys:
        raise UsageError(f"keys directory {directory}: {MANIFEST} lists no keys")
    statements = {p.stem: p for p in sorted(directory.glob("*.jwt"))}
    return KeySet(keys, statements)
