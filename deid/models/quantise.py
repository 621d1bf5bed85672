"""Make the int8 detector from the bundled float model.

    pip install -e '.[models]' && python -m deid.models.quantise

Checking every slice of a CT series costs mostly the detector network. The
graph is first simplified (deid.models.simplify: exact, fewer passes over
memory), then its convolutions are quantised to 8-bit integers: together
about 0.55 of the float network's CPU time on a 512x512 slice. Only
convolutions are quantised, and not the first one (three input channels,
where rounding would blur small, faint strokes) nor the two upsampling
transposed convolutions that give the text map its resolution; weights use 7 bits
(`reduce_range`) so CPUs without VNNI cannot saturate their 16-bit
intermediate sums. Activation ranges are calibrated (min-max) on a labelled
burned-in-text corpus built with another seed than the tests use, so the
tests measure recall on images the calibration never saw.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom

from deid.models.simplify import simplify
from deid.pixels import detect
from deid.pixels.frames import decode, picture

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "ppocr-v4-det.onnx"
TARGET = HERE / "ppocr-v4-det-int8.onnx"
CALIBRATION_SEEDS = (1234, 1235, 1236)  # the tests build their corpus with seed 7
KEEP_FLOAT = ["p2o.Conv.0", "p2o.ConvTranspose.0", "p2o.ConvTranspose.2"]  # names survive simplify


def _inputs(folder: Path) -> Iterator[np.ndarray]:
    from fixtures.burned_in import build

    for seed in CALIBRATION_SEEDS:
        build(folder / str(seed), seed=seed)
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        pixels = decode(ds)
        for index in range(pixels.count):
            yield detect.network_input(picture(ds, pixels, index))


def main() -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Per-channel DequantizeLinear needs opset 13 or later, HardSwish 14; the model is 12.
        model, counts = simplify(version_converter.convert_version(onnx.load(SOURCE), 17))
        print(", ".join(f"{what}: {count}" for what, count in counts.items()))
        onnx.save(model, work / "op17.onnx")
        quant_pre_process(work / "op17.onnx", work / "pre.onnx", skip_symbolic_shape=True)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.blobs = _inputs(work / "corpus")

            def get_next(self) -> dict[str, np.ndarray] | None:
                blob = next(self.blobs, None)
                return None if blob is None else {"x": blob}

        quantize_static(
            work / "pre.onnx",
            TARGET,
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=KEEP_FLOAT,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    digest = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    print(f"{TARGET.name}: {TARGET.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
