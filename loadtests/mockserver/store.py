"""Clients, profiles and revocations: SQLite (WAL) behind an in-memory cache.

Reads on the hot paths (the token route, every API call) never touch SQLite: the whole
table of clients is cached in a dict at start and on every write. SQLite makes the mock
remember its clients across restarts, as the real service never forgets credentials.
Writes are small single-row commits; with WAL and ``synchronous=NORMAL`` they cost tens of
microseconds and do not block readers.

The database file is created mode 0600 (an existing one is made so): it holds the
access-token signing key (PKCS#8 PEM, unencrypted: the mock must sign after a restart with
no one to type a passphrase) and the client-secret digests. A ``:memory:`` store, which
``dcrload loadtest --target mock`` uses, puts neither on disk.

Client secrets are stored as SHA-256 digests. A secret of 256 random bits cannot be
guessed, so a slow password hash (bcrypt, scrypt) would only slow the token route without
adding safety: its job is to protect low-entropy passwords.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    software_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
    client_id TEXT NOT NULL,
    service_provider TEXT NOT NULL,
    mvpd TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (client_id, service_provider, mvpd)
);
CREATE TABLE IF NOT EXISTS revocations (software_id TEXT PRIMARY KEY, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


def private_file(path: str) -> None:
    """Create `path` mode 0600 (or make an existing one so) before SQLite opens it.

    The store holds client-secret digests and the access-token signing key; SQLite creates
    its ``-wal`` and ``-shm`` files with the database file's mode, so they are 0600 too.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


@dataclass(slots=True)
class Client:
    """A registered client: who it is, how it authenticates, its registration metadata."""

    client_id: str
    secret_sha256: bytes
    software_id: str
    issued_at: int
    metadata: dict[str, Any] = field(default_factory=dict)


class Store:
    """The mock's memory. One instance per server process, used from its event loop."""

    def __init__(self, path: str | Path = ":memory:", shared: bool = False) -> None:
        self.path = str(path)
        self.shared = shared  # other processes write to the same file (dcrload mock --workers)
        if self.path != ":memory:":
            private_file(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.clients: dict[str, Client] = {}
        self.profiles: dict[tuple[str, str], dict[str, int]] = {}
        self.revoked: set[str] = set()
        self._load()

    def _load(self) -> None:
        for cid, digest, sid, issued, meta in self._db.execute("SELECT * FROM clients"):
            self.clients[cid] = Client(cid, bytes(digest), sid, issued, json.loads(meta))
        for cid, sp, mvpd, created in self._db.execute("SELECT * FROM profiles"):
            self.profiles.setdefault((cid, sp), {})[mvpd] = created
        self.revoked = {row[0] for row in self._db.execute("SELECT software_id FROM revocations")}

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ shared mode

    def data_version(self) -> int:
        """Changes whenever another connection (another worker) has committed a write."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def reload_revocations(self) -> None:
        self.revoked = {row[0] for row in self._db.execute("SELECT software_id FROM revocations")}

    def client(self, client_id: str) -> Client | None:
        """A client by id: from the cache, or (shared) from the file another worker wrote."""
        client = self.clients.get(client_id)
        if client is None and self.shared:
            row = self._db.execute(
                "SELECT * FROM clients WHERE client_id = ?", (client_id,)
            ).fetchone()
            if row is not None:
                cid, digest, sid, issued, meta = row
                client = self.clients[cid] = Client(
                    cid, bytes(digest), sid, issued, json.loads(meta)
                )
        return client

    def client_count(self) -> int:
        if not self.shared:
            return len(self.clients)
        return int(self._db.execute("SELECT COUNT(*) FROM clients").fetchone()[0])

    # ------------------------------------------------------------------ clients

    def add_client(self, client: Client) -> None:
        self._db.execute(
            "INSERT INTO clients VALUES (?, ?, ?, ?, ?)",
            (
                client.client_id,
                client.secret_sha256,
                client.software_id,
                client.issued_at,
                json.dumps(client.metadata),
            ),
        )
        self.clients[client.client_id] = client

    # ------------------------------------------------------------------ profiles

    def add_profile(self, client_id: str, service_provider: str, mvpd: str, now_ms: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?)",
            (client_id, service_provider, mvpd, now_ms),
        )
        self.profiles.setdefault((client_id, service_provider), {})[mvpd] = now_ms

    def profiles_of(self, client_id: str, service_provider: str) -> dict[str, int]:
        """The profiles (mvpd -> creation time in ms) bound to one client."""
        if self.shared:  # another worker may have made one
            rows = self._db.execute(
                "SELECT mvpd, created_at_ms FROM profiles"
                " WHERE client_id = ? AND service_provider = ?",
                (client_id, service_provider),
            )
            return dict(rows.fetchall())
        return self.profiles.get((client_id, service_provider), {})

    # ------------------------------------------------------------------ revocations

    def revoke(self, software_id: str, now: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO revocations VALUES (?, ?)", (software_id, now))
        self.revoked.add(software_id)

    def restore(self, software_id: str) -> None:
        self._db.execute("DELETE FROM revocations WHERE software_id = ?", (software_id,))
        self.revoked.discard(software_id)

    # ------------------------------------------------------------------ misc

    def get_meta(self, name: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, name: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def wipe(self) -> None:
        """Forget every client, profile and revocation (the admin reset with data)."""
        self._db.executescript(
            "DELETE FROM clients; DELETE FROM profiles; DELETE FROM revocations;"
        )
        self.clients.clear()
        self.profiles.clear()
        self.revoked.clear()
