"""One immutable settings object, validated once, trusted afterwards."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deid.errors import UsageError
from deid.options import Option
from deid.pixels.settings import PixelSettings
from deid.profiles import ResolvedProfile, load_profile
from deid.pseudonyms import Pseudonymizer, load_key
from deid.risk.findings import Severity


@dataclass(frozen=True)
class Settings:
    profile: ResolvedProfile
    pseudonymizer: Pseudonymizer = field(repr=False)
    key_source: str
    output: Path
    report_dir: Path
    mapping_dir: Path | None = None
    jobs: int = 1
    dry_run: bool = False
    fail_on: Severity = Severity.HIGH
    show_values: bool = False
    executor: str = "local"
    scheduler: str | None = None
    pixels: PixelSettings = field(default_factory=PixelSettings)
    face: bool = True  # face-reconstruction risk of head CT/MR/PT series
    face_thresholds: tuple[Path, ...] = ()
    face_previews: Path | None = None  # face renders are face images: only where asked
    deface: bool = False  # remove the face from medium/high head series (deid/face/deface.py)

    def input_ref(self, path: str) -> str:
        """A stable, keyed stand-in for an input path (paths can name patients)."""
        message = b"input-path\x00" + path.encode("utf-8", "surrogateescape")
        digest = hmac.new(self.pseudonymizer.key, message, hashlib.sha256).hexdigest()
        return "input-" + digest[:20]

    @property
    def reveal_inputs(self) -> bool:
        """Input paths go only into a report kept outside the shared output."""
        return not _inside(self.report_dir, self.output)

    @property
    def run_id(self) -> str:
        """Identifies what produces the outputs (profile, options, key) without
        revealing the key: a resumed run reuses only results made the same way."""
        options = ",".join(sorted(o.cli_name for o in self.profile.options))
        tag = hmac.new(self.pseudonymizer.key, b"deid-run-id", hashlib.sha256).hexdigest()[:16]
        px = self.pixels
        pixels = f"{px.mode},{px.redact},{px.allowlists},{px.region_rules}"
        pixels += ",deface" if self.deface else ""
        return f"{self.profile.meta.name}|{options}|{self.profile.meta.source}|{pixels}|{tag}"


def resolve_options(profile_options: Iterable[Option], extra: Iterable[str]) -> frozenset[Option]:
    chosen = set(profile_options)
    for name in extra:
        try:
            chosen.add(Option.by_name(name))
        except KeyError:
            raise UsageError(
                f"unknown option {name!r} (known: {', '.join(Option.names())})"
            ) from None
    if Option.RETAIN_FULL_DATES in chosen and Option.RETAIN_MODIFIED_DATES in chosen:
        raise UsageError(
            "retain-longitudinal-full-dates and retain-longitudinal-modified-dates exclude "
            "each other: choose one"
        )
    return frozenset(chosen)


def available_cores() -> int:
    """Cores this process may run on (a container may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def build_settings(
    *,
    inputs: Iterable[Path],
    output: Path,
    profile: str = "basic",
    options: Iterable[str] = (),
    key_file: Path | None = None,
    random_key: bool = False,
    mapping_dir: Path | None = None,
    report_dir: Path | None = None,
    jobs: int | None = None,
    dry_run: bool = False,
    fail_on: str = "high",
    show_values: bool = False,
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
    environ: Mapping[str, str] | None = None,
) -> Settings:
    loaded = load_profile(profile)
    if loaded.meta.internal:
        raise UsageError(f"profile {profile!r} is internal and cannot be used on its own")
    resolved = loaded.resolve(resolve_options(loaded.meta.options, options))
    key, source = load_key(key_file, random_key, dict(environ) if environ is not None else None)
    for given in inputs:
        if _inside(output, given) and given.is_dir():
            raise UsageError(f"output folder {output} is inside input {given}: choose another")
        if _inside(given, output):
            raise UsageError(f"input {given} is inside output folder {output}")
    if output.exists() and not output.is_dir():
        raise UsageError(f"output {output} exists and is not a folder")
    if mapping_dir is not None:
        if not resolved.meta.linkage:
            raise UsageError(
                f"profile {resolved.meta.name} keeps no linkage: --mapping-dir is not allowed"
            )
        if _inside(mapping_dir, output):
            raise UsageError(
                f"--mapping-dir {mapping_dir} is inside the output folder: keep the linkage "
                "tables apart from the data you share"
            )
    if show_values and (report_dir is None or _inside(report_dir, output)):
        raise UsageError("--show-values needs a --report-dir outside the output folder")
    if executor not in ("local", "dask"):
        raise UsageError(f"--executor must be local or dask, not {executor!r}")
    if scheduler and executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    if executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                "--executor dask needs Dask distributed: pip install 'deid[dask]'"
            ) from None
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    try:
        severity = Severity.parse(fail_on)
    except KeyError:
        raise UsageError(f"--fail-on must be low, medium or high, not {fail_on!r}") from None
    if Option.CLEAN_PIXEL_DATA in resolved.options and (pixels == "off" or redact == "none"):
        raise UsageError(
            "option clean-pixel-data needs pixel redaction: drop --pixels off / --redact none"
        )
    face_on = face_check_enabled(face, tuple(face_thresholds), face_previews, [output, *inputs])
    if Option.CLEAN_VISUAL_FEATURES in resolved.options and not face_on:
        raise UsageError("option clean-recognizable-visual-features needs --face auto")
    if deface and not face_on:
        raise UsageError("--deface needs --face auto (it removes the faces the face check finds)")
    pixel_settings = PixelSettings.build(
        pixels, redact, tuple(pixel_allowlists), tuple(pixel_regions)
    )
    return Settings(
        profile=resolved,
        pseudonymizer=Pseudonymizer(key),
        key_source=source,
        output=output,
        report_dir=report_dir or output,
        mapping_dir=mapping_dir,
        jobs=jobs or available_cores(),
        dry_run=dry_run,
        fail_on=severity,
        show_values=show_values,
        executor=executor,
        scheduler=scheduler,
        pixels=pixel_settings,
        face=face_on,
        face_thresholds=tuple(face_thresholds),
        face_previews=face_previews,
        deface=deface,
    )


def face_check_enabled(
    face: str, thresholds: tuple[Path, ...], previews: Path | None, shared: list[Path]
) -> bool:
    """--face as a switch. Bad threshold files fail before any work; previews
    never land in shared data (the output, the inputs)."""
    from deid.face.thresholds import load

    if face not in ("auto", "off"):
        raise UsageError(f"--face must be auto or off, not {face!r}")
    for path in thresholds:
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    load(*thresholds)
    if previews is not None:
        for folder in shared:
            if _inside(previews, folder):
                raise UsageError(
                    f"--face-previews {previews} is inside {folder}: face renders are face "
                    "images; keep them out of the data you share and the inputs"
                )
    return face == "auto"
