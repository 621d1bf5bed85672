"""Settings: small frozen pieces, each validated once when built.

Every piece refuses a bad value at construction (highdicom's style), so the
engine trusts what it is given. `run`, `scan` and `profiles show` resolve a
profile and its options through the one function `resolve_profile`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from deid.errors import KeyConfigError, UsageError, enum_value
from deid.executors import check as check_executor
from deid.executors import worker_count
from deid.face.thresholds import Thresholds
from deid.face.thresholds import load as load_face_thresholds
from deid.options import Option
from deid.paths import resolved
from deid.pixels.settings import PixelSettings
from deid.profiles import ResolvedProfile, load_profile
from deid.pseudonyms import MIN_KEY_BYTES, Pseudonymizer, load_key
from deid.risk.findings import Severity
from deid.writing import refuse_inside_inputs


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


def inside(child: Path, parent: Path) -> bool:
    try:
        resolved(child).relative_to(resolved(parent))
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
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 1:
            raise UsageError(f"--jobs must be a whole number of at least 1, not {self.jobs!r}")
        if self.scheduler and self.executor is not ExecutorKind.DASK:
            raise UsageError("--scheduler needs --executor dask")

    @classmethod
    def build(
        cls, jobs: int | None = None, executor: str = "local", scheduler: str | None = None
    ) -> Execution:
        """--jobs defaults to, and is capped at, the cores this process may use
        (unless an external Dask scheduler runs the work)."""
        check_executor(executor, scheduler)
        return cls(worker_count(jobs, executor, scheduler), executor, scheduler)


@dataclass(frozen=True)
class Reporting:
    """What makes the exit code non-zero, whether values may be shown, and
    whether report.html gets thumbnails of redacted areas (cut from outputs)."""

    fail_on: Severity = Severity.HIGH
    show_values: bool = False
    strict: bool = False  # non-DICOM files met inside folders count as failures
    thumbnails: bool = True  # crops of redacted areas beside report.html

    def __post_init__(self) -> None:
        # Built directly from Python, a level given as text ("high") would
        # compare with findings only at the end of a run, after every output.
        if not isinstance(self.fail_on, Severity):
            object.__setattr__(self, "fail_on", _severity(self.fail_on))
        _require_flags(self, "show_values", "strict", "thumbnails")

    @classmethod
    def build(
        cls,
        fail_on: str = "high",
        show_values: bool = False,
        strict: bool = False,
        thumbnails: bool = True,
    ) -> Reporting:
        return cls(_severity(fail_on), show_values, strict, thumbnails)


def _severity(value: object) -> Severity:
    try:
        return Severity.parse(value) if isinstance(value, str) else Severity(value)
    except (KeyError, ValueError):
        raise UsageError(f"--fail-on must be low, medium or high, not {value!r}") from None


def _require_flags(piece: object, *names: str) -> None:
    """Yes/no settings are bools: "no" is true, and would be taken so."""
    for name in names:
        value = getattr(piece, name)
        if not isinstance(value, bool):
            raise UsageError(f"{type(piece).__name__}.{name} must be True or False, not {value!r}")


@dataclass(frozen=True)
class FaceSettings:
    """The head-series face check: thresholds loaded once, previews opt-in."""

    enabled: bool = True
    thresholds: Thresholds = field(default_factory=load_face_thresholds)
    threshold_files: tuple[Path, ...] = ()
    previews: Path | None = None  # face renders are face images: only where asked
    deface: bool = False  # remove the face of medium/high head series from the outputs

    def __post_init__(self) -> None:
        _require_flags(self, "enabled", "deface")

    @classmethod
    def build(
        cls,
        face: str = "auto",
        threshold_files: Iterable[Path] = (),
        previews: Path | None = None,
        shared: Iterable[Path] = (),
        deface: bool = False,
    ) -> FaceSettings:
        """Bad threshold files fail before any work; previews never land in
        shared data (the output, the inputs)."""
        if face not in ("auto", "off"):
            raise UsageError(f"--face must be auto or off, not {face!r}")
        files = tuple(Path(p) for p in threshold_files)
        for path in files:
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
        refuse_previews_in(previews, shared)
        if deface and face != "auto":
            raise UsageError("--deface needs --face auto: it removes the faces the check finds")
        return cls(face == "auto", load_face_thresholds(*files), files, previews, deface)


def refuse_previews_in(previews: Path | None, shared: Iterable[Path]) -> None:
    """Face renders are face images: never in the output or an input. Checked
    by FaceSettings.build against what it is given, and again by deidentify
    and scan against their own output and inputs (a piece made directly)."""
    if previews is None:
        return
    for folder in shared:
        if inside(previews, folder):
            raise UsageError(
                f"--face-previews {previews} is inside {folder}: face renders are face "
                "images; keep them out of the data you share and the inputs"
            )


def require_inputs(inputs: Iterable[Path]) -> None:
    """A named input that is not there is a usage error before any work, in
    run and scan alike (a broken link is there: its read reports it)."""
    for given in inputs:
        if not given.exists() and not given.is_symlink():
            raise UsageError(f"input {given} does not exist")


@dataclass(frozen=True)
class Destinations:
    """Where a run writes: outputs, the report and journal, the linkage tables."""

    output: Path
    report_dir: Path
    mapping_dir: Path | None = None

    def __post_init__(self) -> None:
        for name in ("output", "report_dir", "mapping_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @classmethod
    def build(
        cls,
        inputs: Iterable[Path],
        output: Path,
        report_dir: Path | None = None,
        mapping_dir: Path | None = None,
    ) -> Destinations:
        built = cls(output, report_dir or output, mapping_dir)  # paths as Path: __post_init__
        built.check(inputs)
        return built

    def check(self, inputs: Iterable[Path]) -> None:
        """Refused before anything is made: a missing input, an output in an
        input or an input in it, linkage tables inside the shared output. Run
        by `build`, and again by `deidentify` for pieces made directly."""
        inputs = [Path(p) for p in inputs]
        output, mapping_dir = self.output, self.mapping_dir
        report_dir = self.report_dir if self.report_dir != output else None
        require_inputs(inputs)
        for given in inputs:
            if inside(output, given) and given.is_dir():
                raise UsageError(f"output folder {output} is inside input {given}: choose another")
            if inside(given, output):
                raise UsageError(f"input {given} is inside output folder {output}")
        refuse_inside_inputs(
            inputs, {"--report-dir": report_dir, "--mapping-dir": mapping_dir}, "deid run"
        )
        if output.exists() and not output.is_dir():
            raise UsageError(f"output {output} exists and is not a folder")
        if mapping_dir is not None and inside(mapping_dir, output):
            raise UsageError(
                f"--mapping-dir {mapping_dir} is inside the output folder: keep the linkage "
                "tables apart from the data you share"
            )

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
    strict = property(lambda self: self.reporting.strict)

    def input_ref(self, path: str) -> str:
        """A stable, keyed stand-in for an input path (paths can name patients)."""
        message = b"input-path\x00" + path.encode("utf-8", "surrogateescape")
        digest = hmac.new(self.pseudonymizer.key, message, hashlib.sha256).hexdigest()
        return "input-" + digest[:20]

    @property
    def run_id(self) -> str:
        """Identifies what produces the outputs (profile, options, key) without
        revealing the key: a resumed run reuses only results made the same way."""
        parts = self.identity()
        order = ("profile", "rules", "options", "source", "pixels", "face", "key")
        return "|".join(parts[k] for k in order)

    def identity(self) -> dict[str, str]:
        """What makes the outputs what they are, each part safe to show: names,
        a hash of the pixel settings (their files' paths may name people), and
        a keyed tag that reveals nothing of the key."""
        px = self.pixels
        pixels = f"{px.mode},{px.redact},{px.allowlists},{px.region_rules},{px.trust_declared}"
        pixels += "," + _contents_digest((*px.allowlists, *px.region_rules))
        # Hashed: the marker and the journal sit in the shared output, and
        # the pixel settings name the allow-list and region files by path.
        pixels = hashlib.sha256(pixels.encode()).hexdigest()[:16]
        return {
            "profile": self.profile.meta.name,
            "rules": self.profile.meta.digest,
            "options": ",".join(sorted(o.cli_name for o in self.profile.options)),
            "source": self.profile.meta.source,
            "pixels": pixels,
            "face": _face_identity(self.face),
            "key": hmac.new(self.pseudonymizer.key, b"deid-run-id", "sha256").hexdigest()[:16],
        }


def _face_identity(face: FaceSettings) -> str:
    """The face check writes markers (and --deface pixels): a run without it
    resumed the outputs and reported no face check. Other thresholds judge
    heads another way; the defaults stay unnamed, so an OUT marked before
    thresholds were recorded still resumes under them."""
    if not face.enabled:
        return "off"
    how = "deface" if face.deface else "on"
    if face.thresholds != load_face_thresholds():
        how += ",thresholds " + hashlib.sha256(repr(face.thresholds).encode()).hexdigest()[:16]
    return how


def _contents_digest(paths: tuple[Path, ...]) -> str:
    """What the files say, not only where they are: an allow-list edited
    between two runs makes outputs another way. A file gone reads as empty
    (a resumed run then redoes its files rather than fail here)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class KeyChoice:
    """Where the pseudonym key comes from: a file, $DEID_KEY, a throw-away
    key, or (from Python) the key's bytes, e.g. from a secrets manager."""

    key_file: Path | None = None
    random_key: bool = False
    environ: Mapping[str, str] | None = None
    key: bytes | None = field(default=None, repr=False)  # never shown

    def load(self) -> tuple[bytes, str]:
        if self.key is not None:
            if self.key_file is not None or self.random_key:
                raise KeyConfigError("a key given as bytes excludes a key file and a random key")
            if not isinstance(self.key, bytes) or len(self.key.strip()) < MIN_KEY_BYTES:
                raise KeyConfigError(f"the key given is not bytes of {MIN_KEY_BYTES} or more")
            return self.key.strip(), "key given by the caller"
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
    if Option.RETAIN_UIDS in profile.options and not profile.meta.linkage:
        raise UsageError(
            f"profile {profile.meta.name} keeps no linkage: option retain-uids would keep "
            "the original UIDs, which link this release to its source; drop the option"
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
