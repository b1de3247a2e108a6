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
  ops_ext.onnx        the operator paths of "bring your own model": depthwise Conv with stride
                      2, dilation 2 and auto_pad SAME_LOWER, Clip with min/max inputs (fused),
                      Mul by a per-channel constant [4,1,1], Add of a [1,4,1,1] constant,
                      Identity, grouped Conv (group 2, even kernel) with auto_pad SAME_UPPER,
                      Mul of two activations, a standalone Clip, AveragePool with ceil_mode=1,
                      Dropout, Flatten, Gemm; two outputs.
  ops_ext_io.f32      float32: input [2,4,6,6], expected hidden [2,6,2,2], logits [2,5]
  clip_opset10.onnx   opset 10: Conv -> Clip with min/max attributes -> Flatten -> Gemm
  clip_opset10_io.f32 float32: input [2,1,4,4], expected logits [2,3]
  pad_maxpool.onnx    a non-zero Pad before a MaxPool (refused: only folded into Conv/AvgPool)
  bcast_tensors.onnx  Add of two activations of different shapes (refused)
  group_mismatch.onnx Conv with group 3 over 4 channels (refused)
  huge_pad.onnx       a Pad to 4 x 2049 x 2049 values per request (refused: SF_NN_MAX_TENSOR_NUMEL)
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


def ops_ext(rng):
    wd = rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.5
    bd = rng.standard_normal(4).astype(np.float32) * 0.1
    mc = rng.standard_normal((4, 1, 1)).astype(np.float32)
    ac = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)
    wg = rng.standard_normal((6, 2, 2, 2)).astype(np.float32) * 0.5
    fc = rng.standard_normal((5, 24)).astype(np.float32) * 0.3
    lo, hi = np.array(0.0, np.float32), np.array(1.5, np.float32)
    lo2, hi2 = np.array(-0.5, np.float32), np.array(0.75, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "wd", "bd"], ["c1"], name="dw/same_lower", group=4,
                         strides=[2, 2], dilations=[2, 2], kernel_shape=[3, 3],
                         auto_pad="SAME_LOWER"),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"], name="clip_fused"),
        helper.make_node("Mul", ["r1", "mc"], ["m1"], name="mul_per_channel"),
        helper.make_node("Add", ["ac", "m1"], ["a1"], name="add_4d_const"),
        helper.make_node("Identity", ["a1"], ["i1"], name="identity"),
        helper.make_node("Conv", ["i1", "wg"], ["c2"], name="grouped/same_upper", group=2,
                         kernel_shape=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("Mul", ["c2", "c2"], ["sq"], name="mul_tensors"),
        helper.make_node("Clip", ["sq", "lo2", "hi2"], ["cl"], name="clip_standalone"),
        helper.make_node("AveragePool", ["cl"], ["hidden"], name="avg_ceil", kernel_shape=[2, 2],
                         strides=[2, 2], ceil_mode=1),
        helper.make_node("Dropout", ["hidden"], ["d"], name="dropout"),
        helper.make_node("Flatten", ["d"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    inits = [numpy_helper.from_array(v, k) for k, v in
             [("wd", wd), ("bd", bd), ("mc", mc), ("ac", ac), ("wg", wg), ("fc", fc),
              ("lo", lo), ("hi", hi), ("lo2", lo2), ("hi2", hi2)]]
    g = helper.make_graph(nodes, "ops_ext", [inp("x", [4, 6, 6])],
                          [inp("hidden", [6, 2, 2]), inp("logits", [5])], inits)
    save(g, "ops_ext.onnx")
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    T = torch.from_numpy
    with torch.no_grad():
        # SAME_LOWER, input 6, stride 2, dilated kernel 5: output 3, pads 2 before, 1 after
        c1 = F.conv2d(F.pad(T(x), (2, 1, 2, 1)), T(wd), T(bd), stride=2, dilation=2, groups=4)
        a1 = torch.clamp(c1, 0.0, 1.5) * T(mc) + T(ac)
        # SAME_UPPER, input 3, kernel 2: pad 0 before, 1 after
        c2 = F.conv2d(F.pad(a1, (0, 1, 0, 1)), T(wg), groups=2)
        cl = torch.clamp(c2 * c2, -0.5, 0.75)
        hidden = F.avg_pool2d(cl, 2, 2, ceil_mode=True, count_include_pad=False)
        logits = hidden.reshape(2, -1) @ T(fc).t()
    np.concatenate([x.ravel(), hidden.numpy().ravel(), logits.numpy().ravel()]).astype(
        "<f4").tofile(os.path.join(OUT, "ops_ext_io.f32"))


def clip_opset10(rng):
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((3, 18)).astype(np.float32) * 0.5
    fb = rng.standard_normal(3).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c"], ["r"], name="clip_attrs", min=-1.0, max=2.0),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc", "fb"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "clip_opset10", [inp("x", [1, 4, 4])], [inp("logits", [3])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc"),
                           numpy_helper.from_array(fb, "fb")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 10)],
                              producer_name="serflow-testdata")
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "clip_opset10.onnx"))
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32) * 2
    with torch.no_grad():
        c = F.conv2d(F.pad(torch.from_numpy(x), (0, 1, 0, 1)), torch.from_numpy(w))  # [2,2,3,3]
        logits = torch.clamp(c, -1.0, 2.0).reshape(2, -1) @ torch.from_numpy(fc).t() + \
            torch.from_numpy(fb)
    np.concatenate([x.ravel(), logits.numpy().ravel()]).astype("<f4").tofile(
        os.path.join(OUT, "clip_opset10_io.f32"))


def refusals(rng):
    fc = rng.standard_normal((2, 36)).astype(np.float32)
    pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], name="pad/before_max", mode="constant"),
        helper.make_node("MaxPool", ["p"], ["m"], name="maxpool", kernel_shape=[2, 2],
                         strides=[1, 1]),
        helper.make_node("Flatten", ["m"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "pad_maxpool", [inp("x", [4, 2, 2])], [inp("logits", [2])],
                          [numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(pads, "pads")])
    save(g, "pad_maxpool.onnx")
    fc = rng.standard_normal((2, 36)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["gp"], name="gap"),
        helper.make_node("Add", ["x", "gp"], ["s"], name="add/broadcast"),
        helper.make_node("Flatten", ["s"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "bcast_tensors", [inp("x", [4, 3, 3])], [inp("logits", [2])],
                          [numpy_helper.from_array(fc, "fc")])
    save(g, "bcast_tensors.onnx")
    w = rng.standard_normal((3, 1, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv/group3", group=3,
                         kernel_shape=[1, 1]),
        helper.make_node("Flatten", ["c"], ["logits"], name="flatten", axis=1),
    ]
    g = helper.make_graph(nodes, "group_mismatch", [inp("x", [4, 1, 1])], [inp("logits", [3])],
                          [numpy_helper.from_array(w, "w")])
    save(g, "group_mismatch.onnx")
    # Pads of 1024 on a [4,1,1] input: 4 x 2049 x 2049 values, above SF_NN_MAX_TENSOR_NUMEL
    w = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)
    pads = np.array([0, 0, 1024, 1024, 0, 0, 1024, 1024], dtype=np.int64)
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], name="pad/huge", mode="constant"),
        helper.make_node("Conv", ["p", "w"], ["c"], name="conv", kernel_shape=[1, 1],
                         strides=[1024, 1024]),
        helper.make_node("Flatten", ["c"], ["logits"], name="flatten", axis=1),
    ]
    g = helper.make_graph(nodes, "huge_pad", [inp("x", [4, 1, 1])], [inp("logits", [9])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(pads, "pads")])
    save(g, "huge_pad.onnx")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    ops_mix(rng)
    unsupported(rng)
    mismatch(rng)
    gemm_mix(np.random.default_rng(11))
    ops_ext(np.random.default_rng(13))
    clip_opset10(np.random.default_rng(17))
    refusals(np.random.default_rng(19))


if __name__ == "__main__":
    main()
