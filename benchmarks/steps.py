"""Where one worker's time goes: user and system CPU of each per-file step.

    python benchmarks/steps.py FOLDER [--pixels off|auto|all] [--profile basic]

Runs every file of FOLDER through deid's per-file steps (deid/process.py)
in this one process, as a worker runs them, and prints each step's user
and system CPU per file (getrusage around each step; the face check and
the series-level steps are not included: `--face off` as in header-only
runs). Outputs go to a temporary folder removed afterwards. The throughput
benchmark says how deid compares; this says which step to work on.
"""

from __future__ import annotations

import argparse
import collections
import resource
import shutil
import tempfile
import warnings
from pathlib import Path

from deid import api, process
from deid.results import FileResult, Status


def _times() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pixels", default="off", choices=["off", "auto", "all"])
    parser.add_argument("--profile", default="basic")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.is_file())
    out = Path(tempfile.mkdtemp(prefix="deid-steps-"))
    try:
        user, system = _run(files, out, args)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    n = max(len(files), 1)
    print(f"{len(files)} files; ms per file")
    print(f"{'step':22s} {'user':>7s} {'system':>7s}")
    for name, spent in user.most_common():
        print(f"{name:22s} {1000 * spent / n:7.2f} {1000 * system[name] / n:7.2f}")
    print(f"{'all steps':22s} {1000 * sum(user.values()) / n:7.2f} "
          f"{1000 * sum(system.values()) / n:7.2f}")  # fmt: skip


Spent = collections.Counter[str]


def _run(files: list[Path], out: Path, args: argparse.Namespace) -> tuple[Spent, Spent]:
    settings = api.build_settings(
        api.resolve_profile(args.profile),
        api.Destinations.build([args.folder], out),
        key=api.KeyChoice(key=b"benchmark-key-not-a-secret-0123"),
        pixels=api.PixelSettings.build(mode=args.pixels),
        face=api.FaceSettings(enabled=False),
    )
    process.warm()
    user: Spent = collections.Counter()
    system: Spent = collections.Counter()
    warnings.simplefilter("ignore")  # as process_file: the report says what was odd
    for path in files:
        st = path.stat()
        result = FileResult(str(path), Status.FAILED, size=st.st_size, mtime_ns=st.st_mtime_ns)
        state = process.FileState(path, result)
        for step in process.STEPS:
            u0, s0 = _times()
            try:
                step(state, settings)
            except Exception as exc:  # noqa: BLE001 - a file deid refuses: say so, go on
                print(f"{path.name!r}: {step.__name__}: {type(exc).__name__}")  # a name: repr
                break
            finally:
                u1, s1 = _times()
                user[step.__name__] += u1 - u0
                system[step.__name__] += s1 - s0
            if state.done:
                break
    return user, system


if __name__ == "__main__":
    main()
