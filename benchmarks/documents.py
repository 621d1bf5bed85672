"""Encapsulated documents: what de-identifying and scanning them costs.

    python benchmarks/documents.py [--pages 20] [--repeat 3]

1. CPU seconds per page (and wall) to de-identify a PDF report (fixtures/documents.py page
   1: a text layer, nine lines, four identifying) of --pages pages, the same
   report scanned (pictures only), and a text-free chart; and seconds per
   page for `deid scan`'s inspection of the de-identified output. One core
   (OCR and detector threads are 1, as in a worker).
2. Peak memory (max RSS of a fresh process) de-identifying a 2-page and a
   --pages-page report: pages are rendered, redacted and compressed one at a
   time, so only the compressed output grows with the page count.
3. Output bytes per page; milliseconds per CDA document.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DEID_OCR_THREADS", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from deid.documents import deidentify_document  # noqa: E402
from deid.documents.inspect import inspect_document  # noqa: E402
from deid.pixels.settings import PixelSettings  # noqa: E402
from deid.risk.identifiers import IdentifierSet  # noqa: E402
from fixtures import documents as fx  # noqa: E402


def identifiers() -> IdentifierSet:
    ids = IdentifierSet()
    for kind, values in fx.identifiers_in_header().items():
        for value in values:
            ids.add(kind, value, "header")
    return ids


def report(pages: int, scanned: bool = False) -> bytes:
    layout = [fx.PAGES[0]] * pages
    return fx.scanned_pdf(layout) if scanned else fx.text_pdf(layout)


def timed(data: bytes, mime: str, repeat: int) -> tuple[float, float, bytes]:
    """Best wall and CPU seconds of repeat runs (CPU: this machine is shared,
    so wall time also measures the neighbours), and the output."""
    wall, cpu, out = float("inf"), float("inf"), b""
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        outcome = deidentify_document(mime, data, identifiers(), PixelSettings(), "bench")
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
        assert outcome.data is not None, outcome.description
        out = outcome.data
    return wall, cpu, out


def peak_rss(pages: int) -> float:
    """MB of max RSS of a fresh process that de-identifies a pages-page report."""
    code = (
        "import sys, resource; sys.path.insert(0, sys.argv[1]); "
        "from benchmarks.documents import report, timed; "
        f"timed(report({pages}), 'application/pdf', 1); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(HERE.parent)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    timed(fx.chart_pdf(), "application/pdf", 1)  # load the detector and Tesseract once
    results: dict[str, object] = {}
    for name, data in (
        ("text report", report(args.pages)),
        ("scanned report", report(args.pages, scanned=True)),
        ("text-free chart", fx.chart_pdf()),
    ):
        count = args.pages if "report" in name else 1
        wall, cpu, out = timed(data, "application/pdf", args.repeat)
        start = time.process_time()
        inspect_document("application/pdf", out, identifiers(), PixelSettings(), "bench")
        scan = time.process_time() - start
        results[name] = {
            "pages": count,
            "deidentify CPU s/page": round(cpu / count, 2),
            "deidentify wall s/page": round(wall / count, 2),
            "scan CPU s/page": round(scan / count, 2),
            "output KB/page": round(len(out) / count / 1024),
        }
    _, cpu, _ = timed(fx.cda_document(), "text/XML", args.repeat * 10)
    results["CDA document"] = {"deidentify CPU ms": round(cpu * 1000, 1)}
    small, large = peak_rss(2), peak_rss(args.pages)
    results["peak RSS MB"] = {"2 pages": round(small), f"{args.pages} pages": round(large)}
    results["cpu"] = os.cpu_count()
    results["own RSS MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
