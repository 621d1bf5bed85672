"""Settings: small frozen pieces, each validated once when built.

Every piece refuses a bad value at construction (highdicom's style), so the
engine trusts what it is given. `run`, `scan` and `profiles show` resolve a
profile and its options through the one function `resolve_profile`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from deid.errors import UsageError
from deid.face.thresholds import Thresholds
from deid.face.thresholds import load as load_face_thresholds
from deid.options import Option
from deid.pixels.settings import PixelSettings
from deid.profiles import ResolvedProfile, load_profile
from deid.pseudonyms import Pseudonymizer, load_key
from deid.risk.findings import Severity

E = TypeVar("E", bound=StrEnum)


def enum_value(kind: type[E], value: object, what: str) -> E:
    """The enum member for value, or a one-line usage error naming the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise UsageError(f"{what} must be one of {choices}, not {value!r}") from None


class ExecutorKind(StrEnum):
    LOCAL = "local"
    DASK = "dask"


def resolve_profile(name: str, extra_options: Iterable[str] = ()) -> ResolvedProfile:
    """A usable profile (not internal) with its own and the extra options."""
    loaded = load_profile(name)
    if loaded.meta.internal:
        raise UsageError(f"profile {name!r} is internal and cannot be used on its own")
    return loaded.resolve(resolve_options(loaded.meta.options, extra_options))


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


def inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Execution:
    """Where the per-file work runs."""

    jobs: int = 1
    executor: ExecutorKind = ExecutorKind.LOCAL
    scheduler: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "executor", enum_value(ExecutorKind, self.executor, "--executor"))
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if self.scheduler and self.executor is not ExecutorKind.DASK:
            raise UsageError("--scheduler needs --executor dask")

    @classmethod
    def build(
        cls, jobs: int | None = None, executor: str = "local", scheduler: str | None = None
    ) -> Execution:
        made = cls(available_cores() if jobs is None else jobs, executor, scheduler)
        if made.executor is ExecutorKind.DASK:
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise UsageError(
                    "--executor dask needs Dask distributed: pip install 'deid[dask]'"
                ) from None
        return made


@dataclass(frozen=True)
class Reporting:
    """What makes the exit code non-zero, and whether values may be shown."""

    fail_on: Severity = Severity.HIGH
    show_values: bool = False

    @classmethod
    def build(cls, fail_on: str = "high", show_values: bool = False) -> Reporting:
        try:
            return cls(Severity.parse(fail_on), show_values)
        except KeyError:
            raise UsageError(f"--fail-on must be low, medium or high, not {fail_on!r}") from None


@dataclass(frozen=True)
class FaceSettings:
    """The head-series face check: thresholds loaded once, previews opt-in."""

    enabled: bool = True
    thresholds: Thresholds = field(default_factory=load_face_thresholds)
    threshold_files: tuple[Path, ...] = ()
    previews: Path | None = None  # face renders are face images: only where asked

    @classmethod
    def build(
        cls,
        face: str = "auto",
        threshold_files: Iterable[Path] = (),
        previews: Path | None = None,
        shared: Iterable[Path] = (),
    ) -> FaceSettings:
        """Bad threshold files fail before any work; previews never land in
        shared data (the output, the inputs)."""
        if face not in ("auto", "off"):
            raise UsageError(f"--face must be auto or off, not {face!r}")
        files = tuple(Path(p) for p in threshold_files)
        for path in files:
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
        if previews is not None:
            for folder in shared:
                if inside(previews, folder):
                    raise UsageError(
                        f"--face-previews {previews} is inside {folder}: face renders are face "
                        "images; keep them out of the data you share and the inputs"
                    )
        return cls(face == "auto", load_face_thresholds(*files), files, previews)


@dataclass(frozen=True)
class Destinations:
    """Where a run writes: outputs, the report and journal, the linkage tables."""

    output: Path
    report_dir: Path
    mapping_dir: Path | None = None

    @classmethod
    def build(
        cls,
        inputs: Iterable[Path],
        output: Path,
        report_dir: Path | None = None,
        mapping_dir: Path | None = None,
    ) -> Destinations:
        for given in inputs:
            if inside(output, given) and given.is_dir():
                raise UsageError(f"output folder {output} is inside input {given}: choose another")
            if inside(given, output):
                raise UsageError(f"input {given} is inside output folder {output}")
        if output.exists() and not output.is_dir():
            raise UsageError(f"output {output} exists and is not a folder")
        if mapping_dir is not None and inside(mapping_dir, output):
            raise UsageError(
                f"--mapping-dir {mapping_dir} is inside the output folder: keep the linkage "
                "tables apart from the data you share"
            )
        return cls(output, report_dir or output, mapping_dir)

    @property
    def reveal_inputs(self) -> bool:
        """Input paths go only into a report kept outside the shared output."""
        return not inside(self.report_dir, self.output)


@dataclass(frozen=True)
class Settings:
    """Everything `deid run` needs, validated together by `build_settings`."""

    profile: ResolvedProfile
    pseudonymizer: Pseudonymizer = field(repr=False)
    key_source: str
    destinations: Destinations
    execution: Execution = field(default_factory=Execution)
    reporting: Reporting = field(default_factory=Reporting)
    pixels: PixelSettings = field(default_factory=PixelSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    dry_run: bool = False

    # The pieces most code reads, by their everyday names.
    output = property(lambda self: self.destinations.output)
    report_dir = property(lambda self: self.destinations.report_dir)
    mapping_dir = property(lambda self: self.destinations.mapping_dir)
    reveal_inputs = property(lambda self: self.destinations.reveal_inputs)
    jobs = property(lambda self: self.execution.jobs)
    fail_on = property(lambda self: self.reporting.fail_on)
    show_values = property(lambda self: self.reporting.show_values)

    def input_ref(self, path: str) -> str:
        """A stable, keyed stand-in for an input path (paths can name patients)."""
        message = b"input-path\x00" + path.encode("utf-8", "surrogateescape")
        digest = hmac.new(self.pseudonymizer.key, message, hashlib.sha256).hexdigest()
        return "input-" + digest[:20]

    @property
    def run_id(self) -> str:
        """Identifies what produces the outputs (profile, options, key) without
        revealing the key: a resumed run reuses only results made the same way."""
        options = ",".join(sorted(o.cli_name for o in self.profile.options))
        tag = hmac.new(self.pseudonymizer.key, b"deid-run-id", hashlib.sha256).hexdigest()[:16]
        px = self.pixels
        pixels = f"{px.mode},{px.redact},{px.allowlists},{px.region_rules},{px.trust_declared}"
        return f"{self.profile.meta.name}|{options}|{self.profile.meta.source}|{pixels}|{tag}"


@dataclass(frozen=True)
class KeyChoice:
    """Where the pseudonym key comes from: a file, $DEID_KEY, or a throw-away key."""

    key_file: Path | None = None
    random_key: bool = False
    environ: Mapping[str, str] | None = None

    def load(self) -> tuple[bytes, str]:
        environ = dict(self.environ) if self.environ is not None else None
        return load_key(self.key_file, self.random_key, environ)


UNLINKABLE_KEY = (
    "fresh random key for this run, never stored ({name} keeps no linkage: a configured "
    "key is not used, so this release shares no pseudonym or UID with any other)"
)


def _key_for(profile: ResolvedProfile, key: KeyChoice) -> tuple[bytes, str]:
    """The pseudonym key. A profile that promises no linkage never derives
    pseudonyms from a key that another release (pseudonymised, or anonymised
    before) could share: its key is random, per run, and kept nowhere."""
    if not profile.meta.linkage:
        return secrets.token_bytes(32), UNLINKABLE_KEY.format(name=profile.meta.name)
    return key.load()


def build_settings(
    profile: ResolvedProfile,
    destinations: Destinations,
    *,
    key: KeyChoice | None = None,
    execution: Execution | None = None,
    reporting: Reporting | None = None,
    pixels: PixelSettings | None = None,
    face: FaceSettings | None = None,
    dry_run: bool = False,
) -> Settings:
    """Check that the pieces fit together (each already checked itself)."""
    reporting = reporting or Reporting()
    pixels = pixels or PixelSettings.build()
    face = face or FaceSettings.build()
    if destinations.mapping_dir is not None and not profile.meta.linkage:
        raise UsageError(
            f"profile {profile.meta.name} keeps no linkage: --mapping-dir is not allowed"
        )
    if reporting.show_values and not destinations.reveal_inputs:
        raise UsageError("--show-values needs a --report-dir outside the output folder")
    if Option.CLEAN_PIXEL_DATA in profile.options and not pixels.redacts:
        raise UsageError(
            "option clean-pixel-data needs pixel redaction: drop --pixels off / --redact none"
        )
    if Option.CLEAN_VISUAL_FEATURES in profile.options and not face.enabled:
        raise UsageError("option clean-recognizable-visual-features needs --face auto")
    key_bytes, source = _key_for(profile, key or KeyChoice())
    return Settings(
        profile=profile,
        pseudonymizer=Pseudonymizer(key_bytes),
        key_source=source,
        destinations=destinations,
        execution=execution or Execution.build(),
        reporting=reporting,
        pixels=pixels,
        face=face,
        dry_run=dry_run,
    )
