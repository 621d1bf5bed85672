"""Exact graph simplifications of the detector, made before quantisation.

The exported PP-OCRv4 detector spells out, after almost every convolution,
a scalar scale-and-shift (PP-LCNetV3's learnable affine blocks) and a
hard-swish as four separate operations (add 3, clip, multiply, divide by 6).
Each is a full pass over a large activation, so together they cost about a
third of the network's time on one core. Here:

- a scale-and-shift right after a convolution is folded into that
  convolution's weights and bias;
- add-clip-multiply-divide is one HardSwish (opset 14).

(The scale-and-shift after each hard-swish could also be folded into a
following 1x1 convolution; quantised, that cost one text-free CT slice in
40 for 1 ms, so it is not done.)

Every rewrite is the same arithmetic in another order; outputs differ from
the exported graph only by float rounding (the tests compare them).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


class _Graph:
    """Constants by name, producers and consumers: what the rewrites look up."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.graph = model.graph
        self.const: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in self.graph.initializer
        }
        for n in self.graph.node:
            if n.op_type == "Constant" and n.attribute[0].name == "value":
                self.const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.outputs = {o.name for o in self.graph.output}
        self.removed: set[str] = set()  # nodes to drop, by first output (unique)
        self.folds = 0
        self.refresh()

    def refresh(self) -> None:
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for n in self.graph.node:
            for i in n.input:
                self.consumers[i].append(n)

    def only_user(self, name: str) -> Any | None:
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs:
            return None
        return users[0]

    def scalar(self, node: Any, op: str, other_than: str) -> float | None:
        """The constant scalar operand of a binary `op` node, if it has one."""
        if node is None or node.op_type != op or len(node.input) != 2:
            return None
        others = [i for i in node.input if i != other_than]
        if len(others) != 1 or others[0] not in self.const:
            return None
        value = self.const[others[0]]
        return float(value.reshape(-1)[0]) if value.size == 1 else None

    def set_const(self, name: str, value: np.ndarray) -> None:
        from onnx import numpy_helper

        self.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
        self.const[name] = value

    def weights(self, conv: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if conv.input[1] not in self.const:
            return None
        w = self.const[conv.input[1]].astype(np.float64)
        if len(conv.input) > 2 and conv.input[2]:
            if conv.input[2] not in self.const:
                return None
            b = self.const[conv.input[2]].astype(np.float64)
        else:
            b = np.zeros(w.shape[0])
        return w, b

    def replace_weights(self, conv: Any, w: np.ndarray, b: np.ndarray) -> None:
        self.folds += 1
        wname, bname = f"{conv.name}.w{self.folds}", f"{conv.name}.b{self.folds}"
        self.set_const(wname, w)
        self.set_const(bname, b)
        del conv.input[1:]
        conv.input.extend([wname, bname])

    def rename(self, old: str, new: str) -> None:
        """Readers of `old` read `new` instead."""
        for n in self.consumers.get(old, []):
            for k, name in enumerate(n.input):
                if name == old:
                    n.input[k] = new

    def drop(self, *nodes: Any) -> None:
        self.removed.update(n.output[0] for n in nodes)

    def commit(self) -> None:
        keep = [n for n in self.graph.node if n.output[0] not in self.removed]
        del self.graph.node[:]
        self.graph.node.extend(keep)
        self.removed.clear()
        self.refresh()


def _affine_after(g: _Graph, name: str) -> tuple[float, float, list[Any], str] | None:
    """x*a (+b) reading `name` alone: (a, b, its nodes, its output)."""
    mul = g.only_user(name)
    a = g.scalar(mul, "Mul", name)
    if a is None:
        return None
    add = g.only_user(mul.output[0])
    b = g.scalar(add, "Add", mul.output[0])
    if b is None:
        return a, 0.0, [mul], mul.output[0]
    return a, b, [mul, add], add.output[0]


def _fold_one_after(g: _Graph) -> bool:
    for conv in g.graph.node:
        if conv.op_type != "Conv":
            continue
        affine = _affine_after(g, conv.output[0])
        params = g.weights(conv)
        if affine is None or params is None:
            continue
        a, b, nodes, out = affine
        if out in g.outputs:
            continue
        w, bias = params
        g.replace_weights(conv, w * a, bias * a + b)
        g.rename(out, conv.output[0])
        g.drop(*nodes)
        return True
    return False


def _fuse_one_hardswish(g: _Graph) -> bool:
    """x -> Add(3) -> Clip(0, 6) -> Mul(x, .) -> Div(6) becomes HardSwish(x)."""
    for add in g.graph.node:
        if add.op_type != "Add":
            continue
        x = next((i for i in add.input if i not in g.const), None)
        if x is None or g.scalar(add, "Add", x) != 3.0:
            continue
        clip = g.only_user(add.output[0])
        if clip is None or clip.op_type != "Clip" or len(clip.input) != 3:
            continue
        low, high = (g.const.get(i) for i in clip.input[1:])
        if low is None or high is None or float(low) != 0.0 or float(high) != 6.0:
            continue
        mul = g.only_user(clip.output[0])
        if mul is None or mul.op_type != "Mul" or set(mul.input) != {x, clip.output[0]}:
            continue
        div = g.only_user(mul.output[0])
        if g.scalar(div, "Div", mul.output[0]) != 6.0:
            continue
        # The divide becomes the HardSwish: same output, same place in the order.
        div.op_type, div.name = "HardSwish", f"{div.name}.hardswish"
        del div.input[:]
        div.input.append(x)
        del div.attribute[:]
        g.drop(add, clip, mul)
        return True
    return False


def _repeat(g: _Graph, step: Any) -> int:
    done = 0
    while step(g):
        g.commit()
        done += 1
    return done


def simplify(model: Any) -> tuple[Any, dict[str, int]]:
    """The model (opset 14 or later) rewritten in place; counts per rewrite."""
    g = _Graph(model)
    counts = {
        "affine folded into the conv before it": _repeat(g, _fold_one_after),
        "hardswish fused": _repeat(g, _fuse_one_hardswish),
    }
    used = {i for n in g.graph.node for i in n.input}
    kept = [n for n in g.graph.node if n.op_type != "Constant" or n.output[0] in used]
    del g.graph.node[:]
    g.graph.node.extend(kept)
    unused = [i for i in g.graph.initializer if i.name not in used]
    for i in unused:
        g.graph.initializer.remove(i)
    return model, counts
