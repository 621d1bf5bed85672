"""Test helpers: settings from the CLI's raw option values, as `deid run` builds them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from deid import api
from deid.settings import Settings


def run_settings(  # mirrors the CLI's options
    *,
    inputs: Iterable[Path],
    output: Path,
    profile: str = "basic",
    options: Iterable[str] = (),
    key_file: Path | None = None,
    random_key: bool = False,
    environ: Mapping[str, str] | None = None,
    mapping_dir: Path | None = None,
    report_dir: Path | None = None,
    jobs: int | None = None,
    dry_run: bool = False,
    fail_on: str = "high",
    show_values: bool = False,
    thumbnails: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
    pixels: str = "auto",
    redact: str = "phi",
    pixel_allowlists: Iterable[Path] = (),
    pixel_regions: Iterable[Path] = (),
    face: str = "auto",
    face_thresholds: Iterable[Path] = (),
    face_previews: Path | None = None,
    deface: bool = False,
    strict: bool = False,
) -> Settings:
    inputs = list(inputs)
    return api.build_settings(
        api.resolve_profile(profile, options),
        api.Destinations.build(inputs, output, report_dir, mapping_dir),
        key=api.KeyChoice(key_file, random_key, environ),
        execution=api.Execution.build(jobs, executor, scheduler),
        reporting=api.Reporting.build(fail_on, show_values, strict, thumbnails),
        pixels=api.PixelSettings.build(
            pixels, redact, tuple(pixel_allowlists), tuple(pixel_regions)
        ),
        face=api.FaceSettings.build(
            face, face_thresholds, face_previews, [output, *inputs], deface
        ),
        dry_run=dry_run,
    )


def scan_settings(  # mirrors `deid scan`'s options
    *,
    profile: str = "basic",
    options: Iterable[str] = (),
    jobs: int | None = None,
    fail_on: str = "high",
    show_values: bool = False,
    pixels: str = "auto",
    face: str = "auto",
    dataset_risk: bool = True,
    quasi_identifiers: Iterable[str] = (),
    k: int | None = None,
    baseline: Path | None = None,
    ignore_non_dicom: bool = False,
) -> api.ScanSettings:
    return api.build_scan_settings(
        api.resolve_profile(profile, options),
        api.RiskChoice(dataset_risk, tuple(quasi_identifiers), k),
        execution=api.Execution.build(jobs),
        reporting=api.Reporting.build(fail_on, show_values),
        pixels=api.PixelSettings.build(pixels, "none"),
        face=api.FaceSettings.build(face),
        baseline=baseline,
        ignore_non_dicom=ignore_non_dicom,
    )
