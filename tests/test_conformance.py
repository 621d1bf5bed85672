"""Valid DICOM out, science kept: every file pydicom and pydicom-data ship,
through every shipped profile, checked by dciodvfy against its own input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deid import api
from deid.process import process_file
from deid.profiles import shipped_profiles
from deid.results import Status
from fixtures import documents as fixture_documents
from tests.conformance import Comparison, dicom_files, shipped_roots

pytestmark = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="needs dicom3tools")


@pytest.fixture(scope="module")
def files(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """pydicom's and pydicom-data's files, the identified fixture corpus and
    the encapsulated documents (PDF with a text layer, scanned PDF, CDA)."""
    documents = tmp_path_factory.mktemp("documents")
    fixture_documents.build(documents)
    return dicom_files(*shipped_roots(), corpus / "input", documents)


def run_profile(profile: str, files: list[Path], root: Path) -> Comparison:
    out = root / profile
    settings = api.build_settings(
        api.resolve_profile(profile),
        api.Destinations.build([], out, root / f"{profile}-report"),
        key=api.KeyChoice(environ={"DEID_KEY": "conformance-key-0123456789"}),
        execution=api.Execution.build(1),
        face=api.FaceSettings.build("off"),
    )
    comparison = Comparison(profile)
    for path in files:
        # One at a time, each replacing the last: these files share SOP
        # Instance UIDs (one image in several transfer syntaxes).
        result = process_file(path, settings, may_overwrite=True)
        if result.status is not Status.WRITTEN:
            comparison.not_written[str(path)] = f"{result.status}: {result.reason}"
            continue
        redacted = any(
            f.rule.startswith("pixels.") and f.action == "redacted" for f in result.findings
        )
        comparison.compare(path, out / result.output, redacted)
    return comparison


@pytest.mark.parametrize("profile", shipped_profiles())
def test_outputs_are_as_valid_as_inputs_and_keep_science(
    profile: str, files: list[Path], tmp_path: Path
) -> None:
    result = run_profile(profile, files, tmp_path)
    listing = {
        "not written": result.not_written,
        "dciodvfy cannot check (input)": result.unreadable,
    }
    print(f"{profile}: {result.compared} compared; " + json.dumps(listing, indent=1))
    assert len(files) >= 150 and result.compared >= 120, "the corpus was not read"
    assert result.new_kinds == {}, json.dumps(result.new_kinds, indent=1)
    assert result.science_lost == {}, json.dumps(result.science_lost, indent=1)
    assert result.pixels_changed == []
    internal = {p: r for p, r in result.not_written.items() if "cannot process:" in r}
    assert internal == {}, "failures must name an input defect, not an internal error"
    # These files' identifying values are all where a profile decides them:
    # one withheld for a value left (a phantom named "Perfusion^MCA Stroke"
    # and its ImageType PERFUSION was) is a file lost to a false match.
    left = {p: r for p, r in result.not_written.items() if "still present" in r}
    assert left == {}, json.dumps(left, indent=1)
