"""Command line: parse, call the API, print, exit. No logic of its own."""

from __future__ import annotations

import functools
import os
import signal
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from deid import __version__
from deid.errors import DeidError, DeidWarning, OutputError, UsageError
from deid.progress import BatchProgress
from deid.safetext import one_line
from deid.terminal import cell, say
from deid.writing import open_writable, refuse_inside_inputs

# The library (pydicom, numpy, pandas, scipy...) loads inside the commands that
# need it, so that --help, usage errors and `profiles list` answer at once.
if TYPE_CHECKING:
    from deid import api
    from deid.results import FileResult
    from deid.risk.dataset import PopulationRisk

err = Console(stderr=True)
out = Console()


def _fail(exc: DeidError) -> None:
    say(err, ("error:", "bold red"), f" {exc}")
    sys.exit(exc.exit_code)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, `kill`): stopped like Ctrl-C, clean and
    resumable, with exit code 143 instead of 130."""


def _command(command: Callable) -> Callable:
    """What the commands share around their work: SIGTERM stops them like
    Ctrl-C, and what settings warn about (a capped --jobs, a key file others
    can read, an unencrypted scheduler, a profile rule that cannot apply) is
    printed as one line each."""

    @functools.wraps(command)
    def wrapped(*args: object, **kwargs: object) -> object:
        def stop(signum: int, frame: object) -> None:
            raise _Terminated()

        with warnings.catch_warnings():
            warnings.simplefilter("always", DeidWarning)
            warnings.showwarning = _show_warning(warnings.showwarning)
            try:
                previous = signal.signal(signal.SIGTERM, stop)
            except ValueError:  # not the main thread: leave signals alone
                return command(*args, **kwargs)
            try:
                return command(*args, **kwargs)
            finally:
                signal.signal(signal.SIGTERM, previous)

    return wrapped


def _show_warning(fallback: Callable) -> Callable:
    def show(message: Warning, category: type, *where: object, **more: object) -> None:
        if issubclass(category, DeidWarning):
            say(err, ("warning:", "yellow"), f" {message}")
        else:
            fallback(message, category, *where, **more)

    return show


def _interrupted_code(exc: KeyboardInterrupt) -> int:
    return 128 + (signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT)


# Options that `run` and `scan` share, declared once.
FAIL_ON = click.option(
    "--fail-on",
    type=click.Choice(["low", "medium", "high"]),
    default="high",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
JOBS = click.option(
    "-j", "--jobs", type=int, default=None, help="Worker processes [default: all cores]."
)


def _together(*options: Callable) -> Callable:
    """Several Click options applied as one decorator, in the order given."""

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# --executor, --scheduler: where per-file work runs (deid.executors).
EXECUTOR = _together(
    click.option(
        "--executor",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="Local processes, or a Dask cluster.",
    ),
    click.option(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler address, tls://HOST:PORT [default: a private LocalCluster "
        "of --jobs workers].",
    ),
)


def _data_files(flag: str, dest: str, what: str) -> Callable:
    """A repeatable option naming TOML data files that extend a shipped one."""
    return click.option(flag, dest, multiple=True, type=click.Path(path_type=Path), help=what)


STRICT = click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit 3) on non-DICOM files met inside folders [default: skip and count them].",
)
# --pixels, --pixel-allowlist, --pixel-regions: how burned-in text is looked for.
PIXELS = _together(
    click.option(
        "--pixels",
        type=click.Choice(["auto", "all", "off"]),
        default="auto",
        show_default=True,
        help="Look for burned-in text. auto: every image, except ORIGINAL CT/MR/PT/NM "
        "slices, which are examined per series: first, middle and last slices plus a "
        "check of pixels constant across all slices, and every slice when either finds "
        "text (captures, screen saves, DERIVED/SECONDARY, localizers, dose reports, "
        "US/CR/DX and other text-carrying modalities, single-image series: one by one); "
        "segmentations, parametric maps and RT dose (data, not pictures) are not "
        "examined. all: every picture. off: none. Float pixel data and bit depths other "
        "than 1, 8, 16 and 32 are examined in no mode. Each image left unexamined is a "
        "finding.",
    ),
    click.option(
        "--trust-burned-in-annotation",
        "trust_burned_in_annotation",
        is_flag=True,
        help="Believe BurnedInAnnotation NO and leave such files unexamined (a low finding "
        "each); by default NO is checked like a missing value.",
    ),
    _data_files(
        "--pixel-allowlist",
        "pixel_allowlists",
        "More harmless annotations to keep (TOML like profiles/pixels/allowlist.toml).",
    ),
    _data_files(
        "--pixel-regions",
        "pixel_regions",
        "Known text rectangles per device (TOML like profiles/pixels/regions.toml).",
    ),
)
# --face, --face-previews, --face-thresholds: the head-series face check.
FACE = _together(
    click.option(
        "--face",
        type=click.Choice(["auto", "off"]),
        default="auto",
        show_default=True,
        help="Rate face-reconstruction risk of head CT/MR/PT series.",
    ),
    click.option(
        "--face-previews",
        type=click.Path(path_type=Path),
        help="Write each head series' anterior surface render (a face image) here; "
        "refused inside the output or an input.",
    ),
    _data_files(
        "--face-thresholds",
        "face_thresholds",
        "Override face-check thresholds (TOML like profiles/face/thresholds.toml).",
    ),
)


class _OneLineErrors(click.Group):
    """Click's own errors (a missing option, a bad choice) as one line, like
    deid's: `error: <what> (see deid run --help)`, exit 2."""

    def main(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:  # `deid` alone: its help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "deid"
            message = exc.format_message().rstrip(".")
            say(err, ("error:", "bold red"), f" {message} (see {command} --help)")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            say(err, ("error:", "bold red"), f" {exc.format_message()}")
            sys.exit(exc.exit_code)
        except click.Abort:
            say(err, "aborted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deid")
def main() -> None:
    """De-identify DICOM files and report what still identifies a person."""
    # Before numpy loads: parallelism is deid's worker processes; OpenBLAS's
    # own threads would only spin beside them.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the de-identified files (created if missing).",
)
@click.option(
    "--profile",
    "profile",
    default="basic",
    show_default=True,
    help="Shipped profile name or a .toml profile file.",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME",
    help="PS3.15 option to add (repeatable), e.g. retain-uids.",
)
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    help="File holding the secret pseudonym key (else $DEID_KEY).",
)
@click.option(
    "--random-key", is_flag=True, help="Use a throw-away key: pseudonyms will differ on every run."
)
@click.option(
    "--mapping-dir",
    type=click.Path(path_type=Path),
    help="Write uid_mapping.csv and patid_mapping.csv here (not inside OUT).",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    help="Where report.json and the resume journal go [default: OUT].",
)
@JOBS
@click.option("--dry-run", is_flag=True, help="Process and verify, write no DICOM.")
@FAIL_ON
@click.option(
    "--show-values",
    is_flag=True,
    help="Put identifying values found by verification in report.json "
    "(needs a --report-dir outside OUT: the shared output never holds them).",
)
@click.option(
    "--no-thumbnails",
    is_flag=True,
    help="No pictures of redacted areas in report.html (they are cut from the outputs).",
)
@EXECUTOR
@PIXELS
@click.option(
    "--redact",
    type=click.Choice(["phi", "all-text", "none"]),
    default="phi",
    show_default=True,
    help="Burned-in text to black out: phi = all but allow-listed markers; all-text; "
    "none = detect and report only.",
)
@FACE
@click.option(
    "--deface",
    is_flag=True,
    help="Remove the face from head series rated medium/high, then rate them again.",
)
@STRICT
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary table.")
@_command
def run(
    inputs: tuple[Path, ...],
    output: Path,
    profile: str,
    options: tuple[str, ...],
    key_file: Path | None,
    random_key: bool,
    mapping_dir: Path | None,
    report_dir: Path | None,
    jobs: int | None,
    dry_run: bool,
    fail_on: str,
    show_values: bool,
    no_thumbnails: bool,
    executor: str,
    scheduler: str | None,
    pixels: str,
    trust_burned_in_annotation: bool,
    pixel_allowlists: tuple[Path, ...],
    pixel_regions: tuple[Path, ...],
    redact: str,
    face: str,
    face_previews: Path | None,
    face_thresholds: tuple[Path, ...],
    deface: bool,
    strict: bool,
    quiet: bool,
) -> None:
    """De-identify INPUTS (files and folders) into OUTPUT."""
    from deid import api

    try:
        settings = api.build_settings(
            api.resolve_profile(profile, options),
            api.Destinations.build(inputs, output, report_dir, mapping_dir),
            key=api.KeyChoice(key_file, random_key),
            execution=api.Execution.build(jobs, executor, scheduler),
            reporting=api.Reporting.build(fail_on, show_values, strict, not no_thumbnails),
            pixels=api.PixelSettings.build(
                pixels, redact, pixel_allowlists, pixel_regions, trust_burned_in_annotation
            ),
            face=api.FaceSettings.build(
                face, face_thresholds, face_previews, [output, *inputs], deface
            ),
            dry_run=dry_run,
        )
        with BatchProgress(err, "deid", list(inputs), quiet) as progress:
            outcome = api.deidentify(list(inputs), settings, _on_result(progress))
    except DeidError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt as exc:
        say(err, "interrupted: no partial file was left; run the same command again to resume")
        sys.exit(_interrupted_code(exc))
    if not quiet:
        _summary(outcome, settings.dry_run)
    sys.exit(outcome.exit_code)


def _on_result(progress: BatchProgress) -> Callable[[FileResult], None]:
    """Each file: a line for one that was not written as asked, then progress."""
    from deid.results import Status

    def on_result(result: FileResult) -> None:
        if result.status.unprocessed or result.status is Status.WITHHELD:
            earlier = f" (the earlier input: {result.earlier})" if result.earlier else ""
            say(err, (f"{result.status}:", "yellow"), f" {result.input}: {result.reason}{earlier}")
        progress.advance()

    return on_result


def _summary(outcome: api.Outcome, dry_run: bool) -> None:
    totals = outcome.report["totals"]
    title = "deid run" + (" (dry run: nothing written)" if dry_run else "")
    table = Table(title=title, min_width=len(title))  # a title wraps at the table's width
    table.add_column("status")
    table.add_column("files", justify="right")
    for status, count in totals["by_status"].items():
        table.add_row(cell(status), cell(count))
    err.print(table)
    if totals.get("resumed"):
        say(err, f"resumed: {totals['resumed']} of them finished by an earlier run of this "
                 "command (not processed again)")
    severities = Counter(totals["findings_by_severity"])
    if severities:
        say(err, "findings: " + ", ".join(f"{k} {v}" for k, v in sorted(severities.items())))
    if totals.get("pixels"):
        say(err, _pixel_line(totals["pixels"]))
    say(err, f"report: {outcome.report_path}")


def _pixel_line(counts: dict[str, int]) -> str:
    """Images examined for burned-in text, sampled by series, not examined."""
    order = ("examined", "sampled by series", "not examined")
    return "burned-in text: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in order)


@main.command("scan")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    default="basic",
    show_default=True,
    help="Judge identifiers against this profile (name or .toml).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME",
    help="PS3.15 option to add to the profile (repeatable).",
)
@FAIL_ON
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
    help="What to print on standard output.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="Accept the findings listed in this baseline file.",
)
@click.option(
    "--write-baseline",
    type=click.Path(path_type=Path),
    help="Write every current finding to this baseline file and exit 0.",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    help="Also write report.json, findings.csv, report.sarif and report.html here.",
)
@click.option("--show-values", is_flag=True, help="Show identifying values (redacted otherwise).")
@click.option("-k", "k", type=int, default=None, help="k-anonymity threshold [profile: 5].")
@click.option(
    "--qi",
    "quasi",
    multiple=True,
    metavar="NAME",
    help="Quasi-identifier to use instead of the profile's (repeatable).",
)
@click.option(
    "--sensitive",
    metavar="NAME",
    help="Sensitive attribute for l-diversity (e.g. BodyPartExamined); not a quasi-identifier.",
)
@click.option(
    "--population",
    type=int,
    metavar="N",
    help="Size of the population the data set was drawn from: estimates population "
    "uniqueness and journalist risk.",
)
@click.option(
    "--sampling-fraction",
    type=float,
    metavar="F",
    help="The data set's share of its population (0 < F <= 1), instead of --population.",
)
@click.option(
    "--max-risk",
    type=float,
    metavar="R",
    help="Exit 1 when the data set's prosecutor risk (1/k) is above R, e.g. 0.2.",
)
@click.option(
    "--fail-on-dataset",
    is_flag=True,
    help="Exit 1 on any data-set risk finding (k below threshold, l-diversity, "
    "population uniqueness). Without this or --max-risk the data-set risk is reported only.",
)
@JOBS
@click.option(
    "--dataset-risk/--no-dataset-risk",
    default=True,
    show_default=True,
    help="Rate the data set's re-identification risk (off for hooks that see a few files).",
)
@click.option(
    "--ignore-non-dicom",
    is_flag=True,
    help="Skip named files that are not DICOM (for hooks that pass every file).",
)
@EXECUTOR
@PIXELS
@FACE
@STRICT
@click.option("-q", "--quiet", is_flag=True, help="No progress lines (findings still print).")
@_command
def scan_cmd(
    inputs: tuple[Path, ...],
    profile: str,
    options: tuple[str, ...],
    fail_on: str,
    fmt: str,
    baseline: Path | None,
    write_baseline: Path | None,
    report_dir: Path | None,
    show_values: bool,
    k: int | None,
    quasi: tuple[str, ...],
    sensitive: str | None,
    population: int | None,
    sampling_fraction: float | None,
    max_risk: float | None,
    fail_on_dataset: bool,
    jobs: int | None,
    dataset_risk: bool,
    ignore_non_dicom: bool,
    pixels: str,
    trust_burned_in_annotation: bool,
    pixel_allowlists: tuple[Path, ...],
    pixel_regions: tuple[Path, ...],
    face: str,
    face_previews: Path | None,
    face_thresholds: tuple[Path, ...],
    executor: str,
    scheduler: str | None,
    strict: bool,
    quiet: bool,
) -> None:
    """Report what still identifies a person in INPUTS; change nothing."""
    from deid import api
    from deid.settings import require_inputs

    try:
        require_inputs(inputs)
        if report_dir is not None:
            refuse_inside_inputs(inputs, {"--report-dir": report_dir}, "deid scan")
            os.close(open_writable(report_dir))  # one line now, not a traceback after
        if write_baseline is not None:
            if baseline is not None:  # it would record only what the old one did not accept
                raise UsageError(
                    "--write-baseline records every current finding: give it without --baseline"
                )
            if write_baseline.is_dir():
                raise UsageError(f"--write-baseline {write_baseline}: a folder; name a file")
            os.close(open_writable(write_baseline.parent))
        settings = api.build_scan_settings(
            api.resolve_profile(profile, options),
            api.RiskChoice(dataset_risk, quasi, k, sensitive, population, sampling_fraction,
                           max_risk, fail_on_dataset),
            execution=api.Execution.build(jobs, executor, scheduler),
            reporting=api.Reporting.build(fail_on, show_values, strict),
            pixels=api.PixelSettings.build(
                pixels, "none", pixel_allowlists, pixel_regions, trust_burned_in_annotation
            ),
            face=api.FaceSettings.build(face, face_thresholds, face_previews, inputs),
            baseline=baseline,
            ignore_non_dicom=ignore_non_dicom,
        )
        quiet = quiet or fmt != "table"  # machine output on stdout: no progress lines
        with BatchProgress(err, "deid scan", list(inputs), quiet) as progress:
            outcome = api.scan(list(inputs), settings, progress.advance, workdir=report_dir)
    except DeidError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt as exc:
        say(err, "interrupted: nothing was written; run the same command again")
        sys.exit(_interrupted_code(exc))
    with outcome:
        sys.exit(_scan_outputs(outcome, settings, fmt, write_baseline, report_dir))


def _scan_outputs(
    outcome: api.ScanOutcome,
    settings: api.ScanSettings,
    fmt: str,
    write_baseline: Path | None,
    report_dir: Path | None,
) -> int:
    """Baseline, reports and summary, each streamed from the outcome's spool."""
    from deid import api
    from deid.report import sarif, scan_report
    from deid.scan import UNREADABLE

    try:
        if write_baseline is not None:
            count = api.write_baseline(write_baseline, outcome)
            say(err, f"baseline: {count} finding(s) written to {write_baseline}")
            return 0
        if report_dir is not None:
            api.write_scan_reports(outcome, settings, report_dir)
    except OutputError as exc:
        _fail(exc)
    if fmt == "json":
        scan_report.write(sys.stdout, outcome, settings)
    elif fmt == "sarif":
        sarif.write(sys.stdout, outcome.findings)
    else:
        _scan_summary(outcome, scan_report.header(outcome, settings))
    # Another pass over the spool only when there is something to list.
    failures = outcome.entries() if any(outcome.statuses[s] for s in UNREADABLE) else ()
    for entry in failures:
        if entry["status"] in UNREADABLE:
            say(err, (f"{entry['status']}:", "yellow"), f" {entry['input']}: {entry['reason']}")
    return outcome.exit_code


def _scan_summary(outcome: api.ScanOutcome, report: dict) -> None:
    totals = report["totals"]
    table = Table(title="deid scan")
    table.add_column("severity")
    table.add_column("findings", justify="right")
    for severity in ("high", "medium", "low", "info"):
        table.add_row(severity, cell(totals["findings_by_severity"].get(severity, 0)))
    out.print(table)
    if totals["findings_by_rule"]:
        rules = Table("rule", "findings", title="by kind")
        for rule, count in sorted(totals["findings_by_rule"].items(), key=lambda x: -x[1]):
            rules.add_row(cell(rule), cell(count))
        out.print(rules)
    worst = outcome.most_high.items()
    if worst:
        files = Table(title="worst files")
        files.add_column("file", overflow="fold")  # a path cut short names no file
        files.add_column("high findings", justify="right")
        for name, count in worst:
            files.add_row(cell(name), cell(count))
        out.print(files)
    for line in _risk_lines(outcome):
        say(out, line)
    if outcome.baselined:
        say(out, f"{outcome.baselined} finding(s) accepted by the baseline")
    statuses = ", ".join(f"{k} {v}" for k, v in totals["by_status"].items())
    say(out, f"files: {totals['files']} ({statuses})")
    if totals.get("pixels"):
        say(out, _pixel_line(totals["pixels"]))


def _risk_lines(outcome: api.ScanOutcome) -> list[str]:
    """The data-set risk in a few plain lines (names here are validated keywords)."""
    if outcome.risk is None:
        return ["data set: risk not assessed (--no-dataset-risk)"]
    risk = outcome.risk.to_dict()
    s = outcome.risk.summary
    lines = [
        f"data set: {s.records} patient(s), {s.classes} class(es), k-anonymity {s.k} "
        f"(threshold {s.threshold}), {s.below_k_share:.1%} below k, {s.sample_uniques} "
        f"sample unique(s); prosecutor risk max {s.prosecutor_max:.2f} avg "
        f"{s.prosecutor_avg:.2f}; marketer risk {s.marketer:.2f}"
    ]
    journalist = risk["journalist_risk"]
    if journalist["max"] is None:
        lines.append(
            "journalist risk: not estimated without --population or --sampling-fraction; "
            f"at most the prosecutor risk ({s.prosecutor_max:.2f} max)"
        )
    else:
        lines.append(
            f"journalist risk (population {outcome.risk.population.population}): max "
            f"{journalist['max']:.3f} avg {journalist['average']:.3f}"
        )
    lines += _population_lines(outcome.risk.population)
    if s.l_diversity is not None:
        ld = s.l_diversity
        lines.append(
            f"l-diversity of {ld.attribute}: distinct {ld.distinct}, entropy {ld.entropy:.2f} "
            f"({ld.homogeneous_share:.1%} of patients in classes with one value)"
        )
    advice = risk["advice"]
    if advice and s.k < s.threshold:
        lines.append("advice (each alone):")
        lines += [f"  {line}" for line in advice[:5]]
        if risk["advice_combined"]:
            combined = risk["advice_combined"]
            lines.append(
                f"  all of these together: k {s.k} -> {combined['k_anonymity']}, below-k "
                f"{s.below_k_share:.1%} -> {combined['share_below_k']:.1%}"
            )
    gate = outcome.dataset_gate
    lines.append(
        f"data-set gate: {gate} (exit 1)"
        if gate
        else "data-set gate: passed"
        if outcome.settings.risk.max_risk is not None or outcome.settings.risk.fail_on_dataset
        else "data-set risk is reported, not gated (--max-risk R or --fail-on-dataset to gate)"
    )
    return lines


def _population_lines(population: PopulationRisk) -> list[str]:
    estimates = population.estimates
    if not estimates:
        return [f"population uniqueness: {population.note}"] if population.population else []
    size = population.population
    parts = [
        f"{e.model} {e.uniques / size:.2%}" if e.uniques is not None else f"{e.model} n/a"
        for e in estimates
        if e.model != "dankar"
    ]
    dankar = estimates[-1]
    share = "n/a" if dankar.uniques is None else f"{dankar.uniques / size:.2%}"
    return [
        f"population uniqueness (N = {size}): {share} by Dankar's rule ({dankar.reason}); "
        + ", ".join(parts)
    ]


@main.group()
def profiles() -> None:
    """List and show the shipped profiles."""


@profiles.command("list")
@_command
def profiles_list() -> None:
    """Shipped profiles and what they are for."""
    from deid.profiles import load_profile, shipped_profiles

    table = Table("name", "description", "extends")
    table.add_column("options", overflow="fold")  # option names are typed from here
    for name in shipped_profiles():
        try:
            p = load_profile(name)
        except DeidError as exc:
            _fail(exc)
            return
        table.add_row(
            cell(name),
            cell(p.meta.description),
            cell(" > ".join(p.meta.chain[:-1])),
            cell(", ".join(o.cli_name for o in p.meta.options)),
        )
    out.print(table)


@profiles.command("show")
@click.argument("name")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME",
    help="Show the rules as resolved with this option added.",
)
@_command
def profiles_show(name: str, options: tuple[str, ...]) -> None:
    """Every rule of profile NAME: match, PS3.15 code, action in force, and why;
    then how attributes no rule names are decided, and what each action does."""
    from deid import api
    from deid.apply import TABLE as ACTION_TABLE
    from deid.decide import UNLISTED_RULES, at_top_level

    try:
        resolved = api.resolve_profile(name, options)
    except DeidError as exc:
        _fail(exc)
        return
    meta = resolved.meta
    say(out, (meta.name, "bold"), f": {meta.description}")
    say(
        out,
        f"inherits: {' > '.join(meta.chain)}; options: "
        f"{', '.join(sorted(o.cli_name for o in resolved.options)) or 'none'}; "
        f"dates cleaned by: {meta.date_clean}",
    )
    # Plain lines, one rule each, so the listing can be grepped and diffed.
    click.echo(f"{'match':<26} {'code':<7} {'action':<11} name -- why [from]")
    for rule, decision in resolved.listing:
        if rule.match.kind == "tag":
            decision = at_top_level(rule.match.tag, decision)
        click.echo(
            one_line(
                f"{rule.match_text:<26} {decision.code:<7} {decision.action:<11} "
                f"{rule.name} -- {decision.why} [{rule.source}]"
            )
        )
    private = resolved.private_default
    click.echo(
        one_line(
            f"{'(odd groups)':<26} {private.code:<7} {private.action:<11} "
            f"private attributes -- {private.why}"
        )
    )
    click.echo("\nattributes no rule names (decided per file from the standard's IOD tables):")
    for line in UNLISTED_RULES:
        click.echo(f"  {line}")
    click.echo("\nactions:")
    for action in ACTION_TABLE:
        click.echo(f"  {action.name:<11} {action.description}")


if __name__ == "__main__":  # pragma: no cover
    main()
