"""Shared fixtures: one identified corpus per test session, built by code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deid.cv import cv2
from fixtures.build import build, build_bad, build_headerless

# This session is deid's host: fixtures draw with OpenCV before tests fork
# workers, so its pool stays off for the whole session (deid.cv says why).
cv2.setNumThreads(0)

KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    manifest = build(root)
    build_headerless(root, root / manifest["files"][0]["path"])
    return root


@pytest.fixture(scope="session")
def manifest(corpus: Path) -> dict:
    return json.loads((corpus / "manifest.json").read_text())


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, corpus: Path, manifest: dict) -> Path:
    root = tmp_path_factory.mktemp("bad")
    build_bad(root, corpus / manifest["files"][0]["path"])
    return root / "bad"


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DEID_KEY", KEY)
    return KEY
