"""`loadtests.statements` and `dcrload statement`: keys, statements, keys directories."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from dcrload.cli import main
from dcrload.core.errors import UsageError
from loadtests.statements import (
    STATEMENT_TYP,
    generate_key,
    load_keys,
    sign_statement,
    write_statements,
)


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_sign_and_verify(alg: str) -> None:
    key = generate_key(alg, "iss-x")
    token = sign_statement(key, "app-1", "2.0", issued_at=100)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": key.kid, "typ": STATEMENT_TYP}
    claims = jwt.decode(token, key.public_key, algorithms=[alg], options={"verify_iat": False})
    assert claims == {"iss": "iss-x", "software_id": "app-1", "software_version": "2.0", "iat": 100}
    assert "exp" not in claims  # statements never expire


def test_write_and_load(tmp_path: Path) -> None:
    key, written = write_statements(tmp_path, ["a", "b"])
    assert set(written) == {"a", "b"}
    keyset = load_keys(tmp_path)
    assert set(keyset.statements) == {"a", "b"}
    loaded = keyset.keys[key.kid]
    assert loaded.alg == "ES256" and loaded.private_key is not None
    token = written["a"].read_text().strip()
    assert jwt.decode(token, loaded.public_key, algorithms=["ES256"])["software_id"] == "a"
    assert (tmp_path / f"{key.kid}.key.pem").stat().st_mode & 0o077 == 0


def test_reuses_the_key_and_adds_another_algorithm(tmp_path: Path) -> None:
    first, _ = write_statements(tmp_path, ["a"])
    again, _ = write_statements(tmp_path, ["b"])
    rsa, _ = write_statements(tmp_path, ["c"], alg="RS256")
    assert again.kid == first.kid and rsa.kid != first.kid
    keyset = load_keys(tmp_path)
    assert {k.alg for k in keyset.keys.values()} == {"ES256", "RS256"}
    assert set(keyset.statements) == {"a", "b", "c"}


def test_default_software_id(tmp_path: Path) -> None:
    _, written = write_statements(tmp_path, [])
    assert set(written) == {"dcrload-demo"}


@pytest.mark.parametrize("bad", ["", "../x", "a b", "x" * 200, ".hidden"])
def test_bad_software_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError):
        write_statements(tmp_path, [bad])


def test_bad_keys_directories(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_keys(tmp_path)
    (tmp_path / "keys.json").write_text("{")
    with pytest.raises(UsageError, match="malformed"):
        load_keys(tmp_path)
    (tmp_path / "keys.json").write_text(json.dumps({"keys": []}))
    with pytest.raises(UsageError, match="no keys"):
        load_keys(tmp_path)
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [{"kid": "k", "alg": "HS256"}]}))
    with pytest.raises(UsageError, match="unsupported"):
        load_keys(tmp_path)
    (tmp_path / "keys.json").write_text(
        json.dumps({"keys": [{"kid": "k", "alg": "ES256", "issuer": "i", "public": "missing.pem"}]})
    )
    with pytest.raises(UsageError, match="not found"):
        load_keys(tmp_path)


def test_key_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    _key, _ = write_statements(tmp_path, ["a"], alg="RS256")
    manifest = json.loads((tmp_path / "keys.json").read_text())
    manifest["keys"][0]["alg"] = "ES256"
    (tmp_path / "keys.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="not an ES256 key"):
        load_keys(tmp_path)


def test_statement_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "keys"
    code = main(
        [
            "statement",
            "--out",
            str(out),
            "--software-id",
            "x",
            "--software-id",
            "y",
            "--alg",
            "RS256",
            "--issuer",
            "me",
        ]
    )
    assert code == 0
    assert "x -> " in capsys.readouterr().out
    keyset = load_keys(out)
    assert set(keyset.statements) == {"x", "y"}
    assert [k.issuer for k in keyset.keys.values()] == ["me"]


@pytest.mark.parametrize("args", [["--alg", "HS256"], ["--software-id", "../evil"]])
def test_statement_command_bad_input(tmp_path: Path, capsys, args: list[str]) -> None:
    assert main(["statement", "--out", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.startswith("dcrload: error: ")
