"""The first value seen under each key of a batch, and the one time a later
value differs from it: what deid tells about a batch as a whole (one Patient
ID under two issuers, one study under two patients).

Kept in SQLite's anonymous temporary database (pages beyond its cache go to
a file it unlinks as it opens it): memory does not grow with the batch, and
nothing outlives the process. Callers store digests or pseudonymised values
only.
"""

from __future__ import annotations

import sqlite3


class FirstSeen:
    """Each key's first value; a different later one is told once per key."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (key PRIMARY KEY, first, told INTEGER)")

    def differs(self, key: bytes | str, value: bytes | str) -> bytes | str | None:
        """The key's first value when `value` is another one not told yet
        (it is told now); None otherwise (the first value is kept)."""
        row = self._db.execute("SELECT first, told FROM seen WHERE key = ?", (key,)).fetchone()
        if row is None:
            self._db.execute("INSERT INTO seen VALUES (?, ?, 0)", (key, value))
            return None
        if row[0] == value or row[1]:
            return None
        self._db.execute("UPDATE seen SET told = 1 WHERE key = ?", (key,))
        return row[0]

    def close(self) -> None:
        self._db.close()
