#!/usr/bin/python3
"""make_ee_testdata.py - three small early-exit networks of the common families, built in
PyTorch with random (seeded) weights and exported with tools/export_ee.py into
tests/data/ee/<name>/ (model.json, stageK.onnx, golden_input.f32, golden_logits.f32): the
fixtures the unit tests run on both backends against PyTorch's logits. Each takes one
28x28 channel and has 10 classes, so `serflow profile` runs it on Fashion-MNIST as is.

  resnet-sdn   ResNet basic blocks: residual Add of two activations (identity shortcut and a
               1x1 stride-2 downsampling shortcut with BatchNormalization); SDN internal
               classifiers (mixed max/average pooling with a learnt alpha, flattened with
               x.view(x.size(0), -1) as the SDN authors' code does).
  mobilenet-sdn  MobileNet: depthwise 3x3 convolutions (group = channels, stride 1 and 2),
               a grouped 3x3 convolution (group 4), pointwise 1x1, ReLU6 (Clip 0..6) fused
               into convolutions, a MobileNetV2 inverted residual (Add), a Clip that follows
               an Add (not fused) and a Hardtanh(-1, 1) (Clip with other bounds).
  dilated      Padding modes: dilation 2; auto_pad SAME_UPPER (k5), SAME_LOWER (k2, from a
               ZeroPad2d + Conv), VALID; a ZeroPad2d kept as a Pad node in front of a
               stride-2 Conv (the loader folds it), asymmetric explicit pads (1,2,0,1);
               MaxPool with ceil_mode=1 and with auto_pad SAME_UPPER, AveragePool with
               ceil_mode=1 (count_include_pad=0). PyTorch cannot write auto_pad itself, so the
               ONNX graphs are rewritten after export into the equivalent form (the rewrite
               is checked: each rewritten node must produce the same shape).

Usage: /usr/bin/python3 tools/make_ee_testdata.py [outdir]   (default tests/data/ee)
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_ee  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "data", "ee")
SEED = 20260403
N_GOLDEN = 8
LABELS = [str(i) for i in range(10)]


def randomize_bn(module, g):
    """BatchNorm running statistics and affine parameters drawn at random, so that folding
    them into the Conv is exercised (fresh BN layers are the identity)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.2)


# ---- ResNet-SDN --------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + self.short(x))


class SdnIC(nn.Module):
    """The SDN authors' internal classifier (mixed pooling to 4x4, then linear)."""

    def __init__(self, side, ch):
        super().__init__()
        k = side // 4
        self.mx = nn.MaxPool2d(k)
        self.av = nn.AvgPool2d(k)
        self.alpha = nn.Parameter(torch.rand(1))
        self.fc = nn.Linear(ch * (side // k) ** 2, 10)

    def forward(self, x):
        m = self.alpha * self.mx(x) + (1 - self.alpha) * self.av(x)
        return self.fc(m.view(m.size(0), -1))


class Gap(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.fc = nn.Linear(ch, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ResNetSDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          BasicBlock(8, 8, 1)),                       # 8x28x28
            nn.Sequential(BasicBlock(8, 16, 2)),                      # 16x14x14
            nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 24, 2)),  # 24x7x7
        ])
        self.exits = nn.ModuleList([SdnIC(28, 8), SdnIC(14, 16), Gap(24)])


# ---- MobileNet-SDN -----------------------------------------------------------------------


def cbr6(cin, cout, k, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6()]


class InvertedResidual(nn.Module):
    """MobileNetV2: expand 1x1, depthwise 3x3, project 1x1 (linear), Add; then a ReLU6 after
    the Add (a Clip not fused into a Conv)."""

    def __init__(self, ch, expand):
        super().__init__()
        hid = ch * expand
        self.body = nn.Sequential(*cbr6(ch, hid, 1), *cbr6(hid, hid, 3, groups=hid),
                                  nn.Conv2d(hid, ch, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu6(x + self.body(x))


class MobileNetSDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(*cbr6(1, 8, 3), *cbr6(8, 8, 3, groups=8), *cbr6(8, 16, 1)),  # 16x28
            nn.Sequential(*cbr6(16, 16, 3, 2, groups=16), *cbr6(16, 32, 3, groups=4),
                          InvertedResidual(32, 2)),                                 # 32x14
            nn.Sequential(*cbr6(32, 32, 3, 2, groups=32), *cbr6(32, 48, 1),
                          nn.Hardtanh(-1.0, 1.0)),                                  # 48x7
        ])
        self.exits = nn.ModuleList([Gap(16), Gap(32), Gap(48)])


# ---- dilation and padding modes ----------------------------------------------------------


class Dilated(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, 8, 3, padding=2, dilation=2), nn.BatchNorm2d(8),
                          nn.ReLU(),
                          nn.Conv2d(8, 8, 5, padding=2), nn.ReLU()),          # 8x28 (k5 SAME)
            nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 12, 3, 2), nn.ReLU(),  # 14
                          nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(12, 12, 2), nn.ReLU(),  # SAME_L
                          nn.Conv2d(12, 16, 3), nn.ReLU(),                            # VALID 12
                          nn.MaxPool2d(3, 2, ceil_mode=True)),                        # 16x6x6
            nn.Sequential(nn.ZeroPad2d((2, 1, 1, 0)), nn.Conv2d(16, 16, 3), nn.ReLU(),  # 5x7
                          nn.MaxPool2d(2, 2, ceil_mode=True),                         # 3x4
                          nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)),  # 2x2
        ])
        self.exits = nn.ModuleList([Gap(8), Gap(16), nn.Sequential(nn.Flatten(),
                                                                   nn.Linear(64, 10))])


def attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return None


def set_attrs(node, drop, **kw):
    keep = [a for a in node.attribute if a.name not in drop and a.name not in kw]
    del node.attribute[:]
    node.attribute.extend(keep)
    for k, v in kw.items():
        node.attribute.append(helper.make_attribute(k, v))


def rewrite_padding_modes(path):
    """Rewrites the dilated net's exported graphs into the auto_pad / explicit-pad forms
    PyTorch does not write (each rewrite computes the same thing)."""
    model = onnx.load(path)
    g = model.graph
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = onnx.numpy_helper.to_array(attr(n, "value"))
    producer = {o: n for n in g.node for o in n.output}
    remove = []
    for n in g.node:
        k = attr(n, "kernel_shape")
        prod = producer.get(n.input[0]) if n.input else None
        from_pad = prod is not None and prod.op_type == "Pad"
        if n.op_type == "Conv" and k == [5, 5]:
            set_attrs(n, {"pads"}, auto_pad="SAME_UPPER")
        elif n.op_type == "Conv" and k == [3, 3] and not from_pad \
                and attr(n, "pads") in (None, [0, 0, 0, 0]) \
                and attr(n, "dilations") in (None, [1, 1]):
            set_attrs(n, {"pads"}, auto_pad="VALID")
        elif n.op_type == "Conv" and from_pad:
            p = consts[prod.input[1]].tolist()  # [n, c, t, l, n, c, b, r]
            if k == [2, 2]:  # ZeroPad2d((1, 0, 1, 0)) + k2: SAME_LOWER
                assert p == [0, 0, 1, 1, 0, 0, 0, 0], p
                set_attrs(n, {"pads"}, auto_pad="SAME_LOWER")
            elif attr(n, "strides") in (None, [1, 1]):  # asymmetric explicit pads
                set_attrs(n, set(), pads=[p[2], p[3], p[6], p[7]])
            else:
                continue  # the stride-2 one keeps its Pad node
            n.input[0] = prod.input[0]
            remove.append(prod)
        elif n.op_type == "MaxPool" and k == [3, 3] and attr(n, "ceil_mode") == 1:
            set_attrs(n, {"pads", "ceil_mode"}, auto_pad="SAME_UPPER")
    for pad in remove:
        g.node.remove(pad)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def run_onnx_shapes(path):
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    return {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim[1:]]
            for o in m.graph.output}


def build(name, net, g):
    for p in net.parameters():
        p.data.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5))
    randomize_bn(net, g)
    net.eval()
    gx = torch.randn([N_GOLDEN, 1, 28, 28], generator=g)
    out = os.path.join(OUT, name)
    man = export_ee.export(net.stages, net.exits, out, name=name, input_shape=[1, 28, 28],
                           labels=LABELS, mean=[0.28604], std=[0.353024], golden_x=gx,
                           training={"script": "tools/make_ee_testdata.py", "seed": SEED,
                                     "weights": "random", "torch": torch.__version__})
    if name == "dilated":
        for st in man["stages"]:
            path = os.path.join(out, st["file"])
            before = run_onnx_shapes(path)
            rewrite_padding_modes(path)
            assert run_onnx_shapes(path) == before, path
    ops = set()
    for st in man["stages"]:
        for n in onnx.load(os.path.join(out, st["file"])).graph.node:
            ops.add(n.op_type)
    logits = np.fromfile(os.path.join(out, "golden_logits.f32"), dtype="<f4")
    print(f"{name}: {len(man['stages'])} stages, ops {sorted(ops)}, |logits| max "
          f"{np.abs(logits).max():.3g}", file=sys.stderr)


def main():
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        build("resnet-sdn", ResNetSDN(), g)
        build("mobilenet-sdn", MobileNetSDN(), g)
        build("dilated", Dilated(), g)


if __name__ == "__main__":
    main()
