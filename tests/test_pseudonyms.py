from __future__ import annotations

import pytest
from pydicom.uid import UID

from deid.errors import KeyConfigError
from deid.pseudonyms import Pseudonymizer, load_key


def test_same_key_same_pseudonyms_other_key_other():
    a, b = Pseudonymizer(b"k" * 32), Pseudonymizer(b"k" * 32)
    c = Pseudonymizer(b"j" * 32)
    uid = "1.2.840.113619.2.55.3.604688119.968.1369.1"
    assert a.uid(uid) == b.uid(uid) != c.uid(uid)
    assert a.patient_token("MRN1") == b.patient_token("MRN1") != c.patient_token("MRN1")
    assert a.date_offset_days("MRN1") == b.date_offset_days("MRN1")
    assert -3650 <= a.date_offset_days("MRN1") <= -1


def test_uids_are_valid_2_25_uids():
    p = Pseudonymizer(b"k" * 32)
    for i in range(200):
        new = p.uid(f"1.2.3.{i}")
        assert new.startswith("2.25.") and len(new) <= 64
        assert UID(new).is_valid


def test_key_sources(tmp_path):
    f = tmp_path / "key"
    f.write_text("a-file-key-of-enough-length\n")
    f.chmod(0o600)  # readable by others: a warning, tested in test_attacks
    assert load_key(f, False, {})[0] == b"a-file-key-of-enough-length"
    assert load_key(None, False, {"DEID_KEY": "env-key-long-enough"})[0] == b"env-key-long-enough"
    with pytest.raises(KeyConfigError, match="no pseudonym key"):
        load_key(None, False, {})
    with pytest.raises(KeyConfigError, match="shorter than 16"):
        load_key(None, False, {"DEID_KEY": "short"})
    with pytest.raises(KeyConfigError, match="cannot read key file"):
        load_key(tmp_path / "missing", False, {})
    assert len(load_key(None, True, {})[0]) == 32


def test_key_is_not_in_the_repr():
    assert "secret-material" not in repr(Pseudonymizer(b"secret-material-0123"))
