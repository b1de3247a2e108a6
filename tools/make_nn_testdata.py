#!/usr/bin/python3
"""make_nn_testdata.py - writes the small ONNX graphs the nn unit tests load (tests/data/nn/).

  ops_mix.onnx        Conv (stride 2, bias, no BN), Relu, MaxPool and AveragePool with pads
                      (count_include_pad=1), Add of two tensors, GlobalAveragePool, Reshape,
                      MatMul, Add of a constant, Softmax; two outputs (hidden, logits).
  ops_mix_io.f32      float32: input [3,2,6,6], then expected hidden [3,4,1,1] and logits
                      [3,5], computed with PyTorch's functional ops (independent of serflow).
  gemm_mix.onnx       Conv without kernel_shape (taken from the weights), MaxPool with
                      asymmetric pads, Flatten, Gemm with alpha/beta and transB=0, Add of a
                      scalar constant; initializers also listed as graph inputs (old exporters);
                      one output (logits).
  gemm_mix_io.f32     float32: input [2,3,5,5], then expected logits [2,4] (PyTorch).
  unsupported_op.onnx Conv -> Sigmoid (node "act/Sigmoid") -> Flatten -> Gemm
  shape_mismatch.onnx Flatten [N,32] -> Gemm whose weights expect 31 inputs
Deterministic (fixed seed). Usage: /usr/bin/python3 tools/make_nn_testdata.py [outdir]
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                          "tests", "data", "nn")


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="serflow-testdata")
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


def inp(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N"] + shape)


def ops_mix(rng):
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    mm = rng.standard_normal((36, 5)).astype(np.float32) * 0.3
    c5 = rng.standard_normal(5).astype(np.float32)
    shape = np.array([0, -1], dtype=np.int64)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", strides=[2, 2],
                         pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["m"], name="maxpool", kernel_shape=[3, 3],
                         strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["m"], ["a"], name="avgpool", kernel_shape=[3, 3],
                         strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("Add", ["a", "r"], ["s"], name="add_tensors"),
        helper.make_node("GlobalAveragePool", ["s"], ["hidden"], name="gap"),
        helper.make_node("Constant", [], ["shape"], name="shape_const",
                         value=numpy_helper.from_array(shape, "shape")),
        helper.make_node("Reshape", ["s", "shape"], ["f"], name="reshape"),
        helper.make_node("MatMul", ["f", "mm"], ["p"], name="matmul"),
        helper.make_node("Add", ["p", "c5"], ["q"], name="add_const"),
        helper.make_node("Softmax", ["q"], ["logits"], name="softmax", axis=-1),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(mm, "mm"), numpy_helper.from_array(c5, "c5")]
    g = helper.make_graph(nodes, "ops_mix", [inp("x", [2, 6, 6])],
                          [inp("hidden", [4, 1, 1]), inp("logits", [5])], inits)
    save(g, "ops_mix.onnx")
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    with torch.no_grad():
        t = torch.from_numpy(x)
        c = F.conv2d(t, torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1)
        r = F.relu(c)
        m = F.max_pool2d(r, 3, 1, padding=1)
        a = F.avg_pool2d(m, 3, 1, padding=1, count_include_pad=True)
        s = a + r
        hidden = s.mean(dim=(2, 3), keepdim=True)
        q = s.reshape(3, -1) @ torch.from_numpy(mm) + torch.from_numpy(c5)
        logits = F.softmax(q, dim=-1)
    np.concatenate([x.ravel(), hidden.numpy().ravel(), logits.numpy().ravel()]).astype(
        "<f4").tofile(os.path.join(OUT, "ops_mix_io.f32"))


def gemm_mix(rng):
    w = rng.standard_normal((2, 3, 2, 2)).astype(np.float32) * 0.5
    gb = rng.standard_normal((8, 4)).astype(np.float32) * 0.4   # [K, O]: transB = 0
    gc = rng.standard_normal(4).astype(np.float32)
    two = np.array(0.25, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv_no_kernel_attr"),
        helper.make_node("MaxPool", ["c"], ["m"], name="maxpool_asym", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Flatten", ["m"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "gb", "gc"], ["g"], name="gemm", alpha=0.5, beta=2.0),
        helper.make_node("Add", ["two", "g"], ["logits"], name="add_scalar_first"),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(gb, "gb"),
             numpy_helper.from_array(gc, "gc"), numpy_helper.from_array(two, "two")]
    init_inputs = [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims))
                   for t in inits]
    g = helper.make_graph(nodes, "gemm_mix", [inp("x", [3, 5, 5])] + init_inputs,
                          [inp("logits", [4])], inits)
    save(g, "gemm_mix.onnx")
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    with torch.no_grad():
        c = F.conv2d(torch.from_numpy(x), torch.from_numpy(w))                 # [2,2,4,4]
        m = F.max_pool2d(F.pad(c, (0, 1, 0, 1), value=float("-inf")), 2, 2)   # [2,2,2,2]
        q = 0.5 * (m.reshape(2, -1) @ torch.from_numpy(gb)) + 2.0 * torch.from_numpy(gc)
        logits = q + 0.25
    np.concatenate([x.ravel(), logits.numpy().ravel()]).astype("<f4").tofile(
        os.path.join(OUT, "gemm_mix_io.f32"))


def unsupported(rng):
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((10, 32)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("Sigmoid", ["c"], ["s"], name="act/Sigmoid"),
        helper.make_node("Flatten", ["s"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "unsupported", [inp("x", [1, 4, 4])], [inp("logits", [10])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    save(g, "unsupported_op.onnx")


def mismatch(rng):
    fc = rng.standard_normal((10, 31)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc/Gemm", transB=1),
    ]
    g = helper.make_graph(nodes, "mismatch", [inp("x", [2, 4, 4])], [inp("logits", [10])],
                          [numpy_helper.from_array(fc, "fc")])
    # The checker does not infer shapes, so this graph is "valid" ONNX that cannot run.
    save(g, "shape_mismatch.onnx")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    ops_mix(rng)
    unsupported(rng)
    mismatch(rng)
    gemm_mix(np.random.default_rng(11))


if __name__ == "__main__":
    main()
