"""The detector build step: simplifying the graph changes no output."""

from __future__ import annotations

import numpy as np
import pytest

from deid.pixels import detect

onnx = pytest.importorskip("onnx")  # the `models` extra; installed with `test`


def test_simplified_detector_gives_the_same_text_map() -> None:
    import onnxruntime as ort
    from onnx import version_converter

    from deid.models.simplify import simplify

    original = version_converter.convert_version(onnx.load(detect.MODEL), 17)
    simplified, counts = simplify(onnx.load_from_string(original.SerializeToString()))
    onnx.checker.check_model(simplified)
    ops = [n.op_type for n in simplified.graph.node]
    assert counts["hardswish fused"] == ops.count("HardSwish") > 0
    assert "Div" not in ops and "Clip" not in ops  # every hard-swish was found
    assert len(ops) < len(original.graph.node) - 100

    import cv2

    rng = np.random.default_rng(3)
    picture = rng.integers(0, 60, (256, 320, 3), dtype=np.uint8)  # noisy dark background
    for i, words in enumerate(("DOE^JANE 1961-04-07", "MRN 00482213", "ST MARY HOSPITAL")):
        cv2.putText(picture, words, (10, 60 + 60 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (230,) * 3, 2)
    blob = detect.network_input(picture)
    maps = []
    for model in (original, simplified):
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        maps.append(session.run(None, {session.get_inputs()[0].name: blob})[0])
    assert (maps[0] > 0.5).mean() > 0.02  # the text lights the map up
    assert np.abs(maps[0] - maps[1]).max() < 1e-4
