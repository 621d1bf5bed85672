from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.datadict import tag_for_keyword

from deid.errors import ProfileError, UsageError
from deid.options import Option
from deid.profiles import CODE_ACTIONS, Rule, load_profile, parse_match, shipped_profiles
from deid.settings import resolve_options

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "profiles" / "source" / "ps3.15-table-e1-1.json"


def test_shipped_profiles_are_listed():
    assert {"basic", "hipaa-safe-harbor", "gdpr-pseudonymise", "gdpr-anonymise"} <= set(
        shipped_profiles()
    )
    assert "_base" not in shipped_profiles()


def test_basic_is_generated_from_the_table_and_up_to_date(tmp_path):
    generated = ROOT / "profiles" / "basic.toml"
    before = generated.read_text()
    subprocess.run(
        [sys.executable, str(ROOT / "profiles/source/generate_basic.py")],
        check=True,
        capture_output=True,
    )
    assert generated.read_text() == before, "profiles/basic.toml is stale: run the generator"


def test_basic_has_every_table_row_with_its_code():
    rows = json.loads(TABLE.read_text())
    assert len(rows) == 621
    profile = load_profile("basic")
    by_match = {r.match_text: r for r in profile.rules}
    for row in rows:
        if row["id"].startswith("gggg"):
            assert profile.private_code == row["basicProfile"]
            continue
        rule = by_match[row["tag"].lower()]
        assert rule.code == row["basicProfile"], row
    codes = {r.code for r in profile.rules} | {c for r in profile.rules for _, c in r.by_option}
    assert codes == set(CODE_ACTIONS), "every PS3.15 action code is used and known"


def test_options_change_the_action_in_force():
    basic = load_profile("basic")
    study_uid = tag_for_keyword("StudyInstanceUID")
    assert basic.resolve(frozenset()).rule_for(study_uid).action == "uid"
    assert basic.resolve(frozenset({Option.RETAIN_UIDS})).rule_for(study_uid).action == "keep"
    desc = tag_for_keyword("SeriesDescription")
    assert basic.resolve(frozenset()).rule_for(desc).action == "remove"
    assert basic.resolve(frozenset({Option.CLEAN_DESCRIPTORS})).rule_for(desc).action == "clean"
    date = tag_for_keyword("StudyDate")
    assert basic.resolve(frozenset({Option.RETAIN_FULL_DATES})).rule_for(date).action == "keep"
    assert basic.resolve(frozenset({Option.RETAIN_MODIFIED_DATES})).rule_for(date).action == "clean"
    overlay = 0x60023000
    assert basic.resolve(frozenset()).rule_for(overlay).code == "X"


def test_conflicting_options_pick_the_conservative_action():
    # Retain Device Identity says keep, Clean Descriptors says clean: clean wins.
    rule = Rule(
        parse_match("StationName"),
        "StationName",
        "Station Name",
        "X",
        ((Option.RETAIN_DEVICE_IDENTITY, "K"), (Option.CLEAN_DESCRIPTORS, "C")),
        "test",
        "test",
    )
    assert rule.code_for(frozenset({Option.RETAIN_DEVICE_IDENTITY})) == "K"
    assert (
        rule.code_for(frozenset({Option.CLEAN_DESCRIPTORS, Option.RETAIN_DEVICE_IDENTITY})) == "C"
    )
    assert rule.code_for(frozenset()) == "X"


def test_the_two_date_options_cannot_be_combined():
    with pytest.raises(UsageError, match="exclude each other"):
        resolve_options(
            [], ["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"]
        )


def test_pixel_and_face_options_are_accepted():
    chosen = resolve_options([], ["clean-pixel-data", "clean-recognizable-visual-features"])
    assert len(chosen) == 2


def _write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_profile_overrides_by_keyword_tag_mask_private_and_path(tmp_path):
    path = _write(
        tmp_path,
        """
[profile]
name = "mine"
extends = "basic"

[[rules]]
match = "PatientSex"
action = "K"

[[rules]]
match = "(0008,103e)"
action = "C"

[[rules]]
match = "(60xx,3000)"
action = "K"

[[rules]]
match = "(0009,xx01)"
creator = "ACME 1.0"
action = "K"

[[rules]]
match = "RequestAttributesSequence"
action = "K"

[[rules]]
match = "RequestAttributesSequence/AccessionNumber"
action = "pseudonym"
""",
    )
    resolved = load_profile(str(path)).resolve()
    assert resolved.rule_for(tag_for_keyword("PatientSex")).code == "K"
    assert resolved.rule_for(tag_for_keyword("SeriesDescription")).code == "C"
    assert resolved.rule_for(0x60043000).code == "K"
    assert resolved.private_rule(0x0009, 0x01, "ACME 1.0").code == "K"
    assert resolved.private_rule(0x0009, 0x01, "OTHER") is None
    acc = tag_for_keyword("AccessionNumber")
    seq = tag_for_keyword("RequestAttributesSequence")
    assert resolved.rule_for(acc, (seq, acc)).action == "pseudonym"
    assert resolved.rule_for(acc, (acc,)).code == "Z"  # top level untouched
    assert load_profile(str(path)).meta.chain == ("_base", "basic", "mine")


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (
            '[profile]\nname="x"\nextends="basic"\n\n[[rules]]\nmatch="PatientName"\naction="Q"\n',
            7,
            "unknown action 'Q'",
        ),
        (
            '[profile]\nname="x"\n\n[[rules]]\nmatch="PatientNam"\naction="X"\n',
            5,
            "neither a DICOM keyword",
        ),
        ('[profile]\nname="x"\noptions=["retain-everything"]\n', 3, "unknown option"),
        (
            '[profile]\nname="x"\n[[rules]]\nmatch="PatientName"\naction="X"\ncolour="red"\n',
            6,
            "unknown key 'colour'",
        ),
        ('[profile]\nname = "x"\n[[rules]\nmatch="a"\n', 3, "not valid TOML"),
        (
            '[profile]\nname="x"\n[[rules]]\nmatch="(0009,xx01)"\ncreator="A"\naction="K"\n'
            '[[rules]]\nmatch="(0010,xx01)"\ncreator="B"\naction="K"\n',
            8,
            "odd group",
        ),
    ],
)
def test_bad_profiles_are_rejected_with_file_line_and_reason(tmp_path, body, line, reason):
    path = _write(tmp_path, body)
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert reason in message


@pytest.mark.parametrize(
    "name",
    [
        "university-hospital-neuro-oncology-cohort-2024-pseudonymised",
        "study\\u001b[2J",
        "phase\\\\two",
        "",
        "Universität",
    ],
)
def test_a_profile_name_no_output_can_hold_is_refused(tmp_path, name):
    """Every output names its profile in DeidentificationMethod, an LO of at
    most 64 characters: a longer name made valid inputs invalid outputs, a
    backslash split the value in two, an escape reached the files."""
    path = _write(tmp_path, f'[profile]\nname = "{name}"\nextends = "basic"\n')
    with pytest.raises(ProfileError, match="name must be"):
        load_profile(str(path))


def test_the_longest_profile_name_fits_the_method_value(tmp_path):
    from deid import __version__
    from deid.profiles import NAME_MAX

    name = "n" * NAME_MAX
    profile = load_profile(str(_write(tmp_path, f'[profile]\nname = "{name}"\n')))
    assert len(f"deid {__version__}: {profile.meta.name}") == 64
    with pytest.raises(ProfileError, match="name must be"):
        load_profile(str(_write(tmp_path, f'[profile]\nname = "{name}n"\n', "b.toml")))


def test_inheritance_loop_and_missing_base_are_errors(tmp_path):
    _write(tmp_path, '[profile]\nname="a"\nextends="b.toml"\n', "a.toml")
    _write(tmp_path, '[profile]\nname="b"\nextends="a.toml"\n', "b.toml")
    with pytest.raises(ProfileError, match="loops"):
        load_profile(str(tmp_path / "a.toml"))
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile("nope")


def test_help_and_usage_errors_do_not_load_the_library():
    """--help, usage errors and `profiles list` answer at once: the heavy
    libraries load inside the commands that need them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from deid.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "r2 = CliRunner().invoke(main, ['run'])\n"
        "heavy = [m for m in ('pydicom', 'numpy', 'pandas', 'scipy', 'cv2') if m in sys.modules]\n"
        "print(r.exit_code, r2.exit_code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "0 2 []", done.stdout + done.stderr


def _readme_profile() -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Your own profile", 1)[1]
    return section.split("```toml", 1)[1].split("```", 1)[0]


def test_the_readme_profile_example_does_what_it_says(tmp_path):
    # Its sequence-path rule did nothing (basic removes the parent), and its
    # options line dropped the base's date shift.
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset

    from deid.pipeline import process_file
    from tests.helpers import run_settings

    profile = tmp_path / "my-study.toml"
    profile.write_text(_readme_profile())
    base = set(load_profile("gdpr-pseudonymise").meta.options)
    assert base <= set(load_profile(str(profile)).meta.options)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    item = Dataset()
    item.RequestedProcedureID = "RP12345"
    ds.RequestAttributesSequence = [item]
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    settings = run_settings(
        inputs=[source.parent], output=tmp_path / "out", profile=str(profile), random_key=True,
        pixels="off", face="off",
    )  # fmt: skip
    result = process_file(source, settings)
    assert result.status.value == "written", result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    value = out.RequestAttributesSequence[0].RequestedProcedureID
    assert value and value != "RP12345"


def test_a_rule_inside_a_removed_sequence_is_said(tmp_path):
    # It cannot apply while its parent is removed: said on one line, not
    # silent; kept by another option or by a path rule, nothing is said.
    import warnings

    from deid.errors import DeidWarning

    profile = tmp_path / "p.toml"
    rule = '[[rules]]\nmatch = "RequestAttributesSequence/RequestedProcedureID"\n'
    head = '[profile]\nname = "p"\nextends = "basic"\n\n'
    profile.write_text(head + rule + 'action = "pseudonym"\n')
    loaded = load_profile(str(profile))
    with pytest.warns(DeidWarning, match="RequestAttributesSequence"):
        loaded.resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeidWarning)
        loaded.resolve(frozenset({Option.CLEAN_DESCRIPTORS}))  # the option keeps the parent
        nested = (
            '[[rules]]\nmatch = "ReferencedSeriesSequence/ReferencedPatientSequence"\n'
            'action = "K"\n\n[[rules]]\n'
            'match = "ReferencedSeriesSequence/ReferencedPatientSequence/PatientID"\n'
            'action = "pseudonym"\n'
        )
        profile.write_text(head + nested)
        load_profile(str(profile)).resolve()  # the parent is kept by its own path rule
