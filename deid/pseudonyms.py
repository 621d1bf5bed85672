"""Keyed pseudonyms: derived from the original value, never stored.

HMAC-SHA256 under the user's secret key makes every replacement a pure
function of (key, value): two files, two runs or two machines agree with no
shared table, and nobody without the key can recompute or reverse them.
Each kind of value has its own domain so a UID and an ID that happen to be
equal do not get related pseudonyms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from deid.data_files import read_bounded
from deid.errors import DeidWarning, KeyConfigError

KEY_ENV = "DEID_KEY"
MIN_KEY_BYTES = 16
# Date shifts move every date of a patient back by 1 to 3650 days: far enough
# to hide the real dates, near enough to keep seasons and ages plausible.
MAX_SHIFT_DAYS = 3650


@dataclass(frozen=True)
class Pseudonymizer:
    key: bytes = field(repr=False)

    def _digest(self, domain: str, value: str) -> bytes:
        message = domain.encode() + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def uid(self, value: str) -> str:
        """A UID under the 2.25 root (PS3.5 B.2): 128 bits as a decimal integer."""
        value = value.strip("\x00 ")
        return "2.25." + str(int.from_bytes(self._digest("uid", value)[:16], "big"))

    def token(self, domain: str, value: str, length: int = 16) -> str:
        """An upper-case base32 token; fits SH (16) and LO (64) values."""
        raw = base64.b32encode(self._digest(domain, value.strip())).decode("ascii")
        return raw[:length]

    def patient_token(self, patient_key: str) -> str:
        return "P" + self.token("patient", patient_key, 15)

    def date_offset_days(self, patient_key: str) -> int:
        """One backward shift per patient, the same for all their files."""
        n = int.from_bytes(self._digest("date-shift", patient_key)[:8], "big")
        return -(1 + n % MAX_SHIFT_DAYS)


KEY_FILE_BYTES = 64 << 10  # a key is a few dozen bytes; a device never ends


def load_key(
    key_file: Path | None, random_key: bool, environ: dict[str, str] | None = None
) -> tuple[bytes, str]:
    """Return (key, where it came from). The key itself is never echoed."""
    environ = os.environ if environ is None else environ
    if key_file is not None and random_key:
        raise KeyConfigError("--key-file and --random-key exclude each other")
    if key_file is not None:
        try:
            key = read_bounded(key_file, KEY_FILE_BYTES).strip()
            mode = key_file.stat().st_mode
        except OSError as exc:
            raise KeyConfigError(f"cannot read key file {key_file}: {exc.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.warn(
                f"key file {key_file} can be read by other users (mode {stat.S_IMODE(mode):o}): "
                f"whoever reads it can undo the pseudonyms; chmod 600 {key_file}",
                DeidWarning,
                stacklevel=2,
            )
        source = f"key file {key_file}"
    elif random_key:
        return secrets.token_bytes(32), "random key (not kept: pseudonyms cannot be repeated)"
    elif environ.get(KEY_ENV):
        try:
            key = environ[KEY_ENV].encode("utf-8").strip()
        except UnicodeEncodeError:  # bytes the locale could not decode
            raise KeyConfigError(
                f"{KEY_ENV} is not valid UTF-8 text: put a binary key in a file and pass "
                "--key-file"
            ) from None
        source = f"environment variable {KEY_ENV}"
    else:
        raise KeyConfigError(
            f"no pseudonym key: set {KEY_ENV} or pass --key-file FILE "
            "(or --random-key for pseudonyms that cannot be repeated)"
        )
    if len(key) < MIN_KEY_BYTES:
        raise KeyConfigError(f"the key from {source} is shorter than {MIN_KEY_BYTES} bytes")
    return key, source
