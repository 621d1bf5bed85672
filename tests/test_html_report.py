"""report.html renders in a real browser (Debian's headless Chromium) and is
the page a reviewer signs off on: what was written where, what failed and
why, what was redacted (thumbnails cut from the output), what needs a human,
and why the exit code is what it is."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from deid.api import deidentify
from deid.cli import main
from deid.pixels import frames
from deid.report import views
from fixtures import burned_in, head_phantom
from tests.helpers import run_settings

KEY = {"DEID_KEY": "html-report-key-0123456789"}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A PACS export names folders and files by UIDs: long, and no space to break at.
UID_PATH = (
    "1.2.826.0.1.3680043.8.498.10927406839562718359180274819302",
    "1.2.826.0.1.3680043.8.498.55190283746510293847561029384756",
    "1.2.826.0.1.3680043.8.498.77102938475610293847561029384751.dcm",
)
HOSTILE_FOLDER = "<b id=injected>x"
REDACTED_RGB = "text-005-us-examples_rgb_color.dcm"
REDACTED_PALETTE = "text-004-us-examples_palette.dcm"
THUMBNAIL_BOUNDS = (320, 160)  # width, height


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium (Debian) must be installed in CI")
        pytest.skip("chromium not installed")
    return path


def browser(tmp: Path) -> list[str]:
    return [chromium(), *FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}"]


def dom_of(page: Path, tmp: Path) -> str:
    done = subprocess.run(
        [*browser(tmp), "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


def widths_at(page: Path, tmp: Path, width: int) -> tuple[int, int]:
    """(scroll width, client width) of the page in a `width` px window with every
    <details> open: a copy of the page with a measuring script (the report has none)."""
    probe = page.with_name("measure-probe.html")
    probe.write_text(
        page.read_text()
        + "<script>document.querySelectorAll('details').forEach(d=>d.open=true);"
        "document.body.setAttribute('data-widths',"
        "document.documentElement.scrollWidth+','+document.documentElement.clientWidth);"
        "</script>"
    )
    try:
        done = subprocess.run(
            [*browser(tmp), f"--window-size={width},900", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    scroll, client = re.search(r'data-widths="(\d+),(\d+)"', done.stdout).groups()
    return int(scroll), int(client)


def text(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def section(dom: str, ident: str) -> str:
    found = re.search(rf'<section[^>]*id="{ident}"[^>]*>(.*?)</section>', dom, re.S)
    assert found, f"no section {ident}"
    return found.group(1)


def file_rows(dom: str) -> dict[str, str]:
    """Each listed file's part of the page (up to the next file), by its input."""
    rows = {}
    for row in re.split(r'(?=<tbody class="file)', section(dom, "files"))[1:]:
        name = re.search(r'<td class="input">(.*?)</td>', row, re.S)
        rows[text(name.group(1))] = row
    return rows


def thumbnails_in(row: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        for tag in re.findall(r"<img\b[^>]*>", row)
    ]


@pytest.fixture(scope="module")
def review(corpus: Path, manifest: dict, tmp_path_factory: pytest.TempPathFactory):
    """One `deid run` over what a real batch holds: ultrasound with burned-in
    names (redacted), a clean CT, a file whose profile leaves a name in it
    (withheld), a truncated file (failed), a DICOMDIR (skipped), a head CT
    series (face risk), UID-named folders and a folder named like markup;
    the report outside OUT, so paths show."""
    root = tmp_path_factory.mktemp("review")
    made = root / "made"
    burned_in.build(made / "burned")
    head_phantom.build(made / "phantoms", ("ct-head",))
    inputs = root / "in"
    placed = {
        "rgb": inputs.joinpath(*UID_PATH),
        "palette": inputs / "us" / REDACTED_PALETTE,
        "clean": inputs / "ct" / "clean-000.dcm",
        "hostile": inputs / HOSTILE_FOLDER / "clean-001.dcm",
        "leak": inputs / "leak" / "identified.dcm",
        "cut": inputs / "cut" / "truncated.dcm",
        "dicomdir": inputs / "dir" / "DICOMDIR",
    }
    sources = {
        "rgb": made / "burned" / "text" / REDACTED_RGB,
        "palette": made / "burned" / "text" / REDACTED_PALETTE,
        "clean": made / "burned" / "clean" / "clean-000.dcm",
        "hostile": made / "burned" / "clean" / "clean-001.dcm",
        "leak": corpus / manifest["files"][0]["path"],
        "dicomdir": Path(pydicom.__file__).parent / "data/test_files/dicomdirtests/DICOMDIR",
    }
    for name, source in sources.items():
        placed[name].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, placed[name])
    placed["cut"].parent.mkdir(parents=True)
    placed["cut"].write_bytes(sources["clean"].read_bytes()[:300])
    shutil.copytree(made / "phantoms" / "ct-head", inputs / "head")
    leaky = root / "leaky.toml"  # a profile mistake: a name kept (PN: withheld, not repaired)
    leaky.write_text(
        '[profile]\nname = "leaky"\nextends = "basic"\n\n'
        '[[rules]]\nmatch = "PatientMotherBirthName"\naction = "K"\n'
    )
    out, reports = root / "out", root / "reports"
    result = CliRunner().invoke(
        main,
        ["run", str(inputs), "-o", str(out), "--report-dir", str(reports),
         "--profile", str(leaky), "-q"],
        env=KEY,
    )
    page = reports / "report.html"
    return SimpleNamespace(
        exit_code=result.exit_code,
        output=result.output,
        placed={k: str(v) for k, v in placed.items()},
        inputs=inputs,
        out=out,
        reports=reports,
        page=page,
        html=page.read_text(),
        dom=dom_of(page, root),
        report=json.loads((reports / "report.json").read_text()),
        tmp=root,
    )


def test_scan_html_report_renders(corpus, tmp_path):
    common = browser(tmp_path)
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["scan", str(corpus / "input" / "identified"), "--report-dir", str(report_dir)]
    )
    assert result.exit_code == 1
    page = report_dir / "report.html"
    html = page.read_text()
    assert "<script" not in html and "http" not in html.split("</style>")[1], "self-contained"
    assert "QUIXOTE" not in html, "evidence is redacted by default"
    dom = dom_of(page, tmp_path)
    assert "Data-set re-identification risk" in dom
    assert "header.name" in dom
    verdict = text(section(dom, "verdict"))
    assert re.search(r"Exit code 1: \d+ findings? at or above --fail-on high", verdict), verdict
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, "--window-size=1280,1200", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1200, 1280)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    dark = (gray < 128).mean()
    assert 0.005 < dark < 0.5, f"page looks blank or broken ({dark:.3%} dark pixels)"
    red = ((image[:, :, 2] > 150) & (image[:, :, 1] < 80) & (image[:, :, 0] < 80)).sum()
    assert red > 50, "the high-severity badges are drawn"


def test_every_input_is_listed_by_path_with_its_status_badge(review):
    assert review.exit_code == 3, review.output
    rows = file_rows(review.dom)
    expected = {
        "rgb": "written", "palette": "written", "clean": "written", "hostile": "written",
        "leak": "withheld", "cut": "failed", "dicomdir": "skipped",
    }
    for name, status in expected.items():
        row = rows[review.placed[name]]
        assert f'<span class="badge {status}">{status}</span>' in row, name
    assert len(rows) == len(review.report["files"]), "a small batch is listed whole"


def test_failed_withheld_and_skipped_files_say_why(review):
    rows = file_rows(review.dom)
    entries = {Path(e["input"]).name: e for e in review.report["files"]}
    for name in ("cut", "leak", "dicomdir"):
        reason = entries[Path(review.placed[name]).name]["reason"]
        assert reason and reason in text(rows[review.placed[name]]), name
    assert "not written" in text(rows[review.placed["cut"]])


def test_written_files_show_where_their_output_is(review):
    rows = file_rows(review.dom)
    entries = {e["input"]: e for e in review.report["files"]}
    for name in ("rgb", "palette", "clean", "hostile"):
        output = entries[review.placed[name]]["output"]
        assert output and (review.out / output).is_file()
        assert f'<td class="output"><code>{output}</code>' in rows[review.placed[name]]
    header = text(section(review.dom, "verdict"))
    assert f"outputs are under {review.out}" in header


def test_exit_code_is_explained_beside_the_severity_counts(review):
    verdict = text(section(review.dom, "verdict"))
    assert "high" in verdict and "findings" in verdict, "severity counts"
    assert "Exit code 3: 1 input could not be processed (failed 1)" in verdict, verdict
    high = review.report["totals"]["findings_by_severity"]["high"]
    assert high >= 2  # the leak and the face
    assert f"{high} findings at or above --fail-on high would give exit code 1" in verdict


def test_needs_a_human_lists_failures_withheld_files_face_and_left_text(review):
    todo = text(section(review.dom, "review"))
    assert "1 file could not be processed" in todo
    assert "1 file withheld" in todo
    assert "face.reconstruction-risk" in todo and "deface the series before sharing" in todo
    assert "verify." in todo, "the value verification found left in the withheld file"


def test_face_series_are_listed_once(review):
    series = [e["series"] for e in review.report["face"]["series"]]
    assert series
    files = re.search(r'<section[^>]*id="files".*?</section>', review.dom, re.S)
    besides_outputs = review.dom.replace(files.group(), "") if files else review.dom  # paths
    for uid in series:
        assert besides_outputs.count(uid) == 1, uid
        assert uid in section(review.dom, "face")


def test_page_fits_a_1400px_window(review):
    scroll, client = widths_at(review.page, review.tmp, 1400)
    assert scroll <= client, f"the page is {scroll} px wide in a {client} px window"


def test_names_from_the_data_are_shown_never_run(review):
    assert 'id="injected"' not in review.dom
    assert any(HOSTILE_FOLDER in name for name in file_rows(review.dom))
    assert "<script" not in review.html


def _picture(path: Path, frame: int) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return frames.picture(ds, frames.decode(ds), frame)


def _cut(picture: np.ndarray, crop: str, size: tuple[int, int]) -> np.ndarray:
    x, y, w, h = (int(v) for v in crop.split(","))
    cut = picture[y : y + h, x : x + w]
    if (w, h) != size:
        cut = cv2.resize(cut, size, interpolation=cv2.INTER_AREA)
    return cut


def test_thumbnails_are_crops_of_the_written_output_for_redacted_files_only(review):
    rows = file_rows(review.dom)
    entries = {e["input"]: e for e in review.report["files"]}
    shown = {name for name, row in rows.items() if thumbnails_in(row)}
    assert shown == {review.placed["rgb"], review.placed["palette"]}
    referenced = set()
    for name in shown:
        images = thumbnails_in(rows[name])
        assert 1 <= len(images) <= 4
        output = review.out / entries[name]["output"]
        for image in images:
            assert re.fullmatch(r"report-thumbnails/[0-9a-f]{24}\.png", image["src"])
            referenced.add(image["src"])
            png = cv2.imread(str(review.reports / image["src"]), cv2.IMREAD_COLOR_RGB)
            height, width = png.shape[:2]
            assert width <= THUMBNAIL_BOUNDS[0] and height <= THUMBNAIL_BOUNDS[1]
            frame = int(image["data-frame"])
            expected = _cut(_picture(output, frame), image["data-crop"], (width, height))
            assert np.array_equal(png, expected), "a crop of the output as written"
            original = _cut(_picture(Path(name), frame), image["data-crop"], (width, height))
            assert not np.array_equal(png, original), "never a crop of the input"
    folder = review.reports / "report-thumbnails"
    on_disk = {f"report-thumbnails/{p.name}" for p in folder.iterdir()}
    assert on_disk == referenced, "only thumbnails the page shows are kept"


def _small_batch(root: Path, corpus: Path, manifest: dict) -> Path:
    """A redacted ultrasound and a failing file, in folders that name a patient."""
    burned_in.build(root / "made")
    inputs = root / "in"
    (inputs / "QUIXOTE_ALONSO").mkdir(parents=True)
    shutil.copyfile(
        root / "made" / "text" / REDACTED_PALETTE, inputs / "QUIXOTE_ALONSO" / "us-1.dcm"
    )
    # A DICOM file cut short: a failure (a file that is not DICOM at all,
    # met inside a folder, would only be skipped and counted).
    cut = (inputs / "QUIXOTE_ALONSO" / "us-1.dcm").read_bytes()[:600]
    (inputs / "PANZA_SANCHO.dcm").write_bytes(cut)
    return inputs


def test_report_inside_out_names_no_input_but_shows_outputs_and_thumbnails(
    corpus, manifest, tmp_path
):
    inputs = _small_batch(tmp_path, corpus, manifest)
    out = tmp_path / "out"
    for _ in range(2):  # the second run resumes: thumbnails come from the journal's record
        result = CliRunner().invoke(main, ["run", str(inputs), "-o", str(out), "-q"], env=KEY)
        assert result.exit_code == 3, result.output
        page = (out / "report.html").read_text()
        for name in ("QUIXOTE", "PANZA", "us-1", str(inputs)):
            assert name not in page, name
        assert "input-" in page and "keyed reference" in page
        report = json.loads((out / "report.json").read_text())
        written = next(e for e in report["files"] if e["status"] == "written")
        row = file_rows(page)[written["input"]]
        assert f"<code>{written['output']}</code>" in row
        images = thumbnails_in(row)
        assert images and all((out / i["src"]).is_file() for i in images)


@pytest.mark.parametrize("flag", ["--no-thumbnails", "--dry-run"])
def test_no_thumbnails_when_opted_out_or_nothing_written(corpus, manifest, tmp_path, flag):
    inputs = _small_batch(tmp_path, corpus, manifest)
    out, reports = tmp_path / "out", tmp_path / "reports"
    result = CliRunner().invoke(
        main, ["run", str(inputs), "-o", str(out), "--report-dir", str(reports), "-q", flag],
        env=KEY,
    )
    assert result.exit_code == 3, result.output
    page = (reports / "report.html").read_text()
    assert "<img" not in page
    assert not (reports / "report-thumbnails").exists()
    assert "redacted" in page, "the redactions are still listed"


def test_thumbnails_are_kept_only_for_the_files_the_page_lists(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(views, "HTML_FILES", 2)
    labels = burned_in.build(tmp_path / "made")
    inputs = tmp_path / "in"
    inputs.mkdir()
    redacted = [n for n in labels if "-us-" in n][:4]
    for name in redacted:
        shutil.copyfile(tmp_path / "made" / "text" / name, inputs / name)
    reports = tmp_path / "reports"
    settings = run_settings(
        inputs=[inputs], output=tmp_path / "out", report_dir=reports, jobs=1, environ=KEY
    )
    deidentify([inputs], settings)
    page = (reports / "report.html").read_text()
    rows = file_rows(page)
    assert len(rows) == 2 and "2 more are in report.json" in page
    shown = {i["src"] for row in rows.values() for i in thumbnails_in(row)}
    on_disk = {f"report-thumbnails/{p.name}" for p in (reports / "report-thumbnails").iterdir()}
    assert shown and on_disk == shown
