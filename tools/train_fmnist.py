#!/usr/bin/python3
"""train_fmnist.py - trains serflow's bundled early-exit CNN on Fashion-MNIST and exports it.

Reproducible offline: data comes from the Debian package dataset-fashion-mnist, torch from
python3-torch; fixed seed, one thread. Outputs (in --out, default models/fmnist-ee):
  stage1.onnx .. stageN.onnx  one graph per stage; input "x" ([N,1,28,28] image for stage 1, else
                              the previous stage's hidden state); outputs "hidden" (absent in the
                              last stage) and "logits" [N,10]. Batch dimension is dynamic.
                              BatchNormalization is NOT folded here: the C loader folds it.
  model.json                  manifest: shapes, labels, normalisation, stage files, accuracy
  golden_input.f32            16 normalised test images, float32 little-endian [16,1,28,28]
  golden_logits.f32           their logits for every classifier, float32 [stages,16,10]

Architecture (VGG-style, Shallow-Deep-Networks internal classifiers): six conv stages
(conv3x3 + BN + ReLU, max-pooling after stages 2 and 4); an internal classifier (pooling ->
flatten -> linear) after each stage; the last stage's classifier is the final one. Training
minimises a weighted sum of all classifiers' cross-entropies, weights growing with depth
(w_i = i / N, as in SDN).

Usage: /usr/bin/python3 tools/train_fmnist.py [--epochs E] [--out DIR] [--measure]
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
SEED = 20260401
N_GOLDEN = 16


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split):
    x = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x.reshape(-1, 1, 28, 28), y


class Stage(nn.Module):
    """conv3x3 -> BN -> ReLU [-> maxpool 2], then an internal classifier on the result."""

    def __init__(self, cin, cout, hw, pool, ic_pool, last):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool
        self.last = last
        out_hw = hw // 2 if pool else hw
        self.out_shape = [cout, out_hw, out_hw]
        # Classifier pooling: "gap" = global average, ("avg"|"max", k) = k x k window, stride k.
        self.ic_pool = ic_pool
        if ic_pool == "gap":
            feat = cout
        else:
            feat = cout * (out_hw // ic_pool[1]) ** 2
        self.fc = nn.Linear(feat, 10)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        if self.pool:
            h = F.max_pool2d(h, 2)
        if self.ic_pool == "gap":
            z = F.adaptive_avg_pool2d(h, 1)
        elif self.ic_pool[0] == "avg":
            z = F.avg_pool2d(h, self.ic_pool[1], count_include_pad=False)
        else:
            z = F.max_pool2d(h, self.ic_pool[1])
        logits = self.fc(torch.flatten(z, 1))
        if self.last:
            return logits
        return h, logits


def build_model():
    # (cin, cout, input hw, maxpool after, classifier pooling)
    cfg = [
        (1, 16, 28, False, ("avg", 7)),   # 28x28x16 -> 4x4x16 -> 10
        (16, 32, 28, True, ("avg", 7)),   # 14x14x32 -> 2x2x32 -> 10
        (32, 48, 14, False, ("avg", 7)),  # 14x14x48 -> 2x2x48 -> 10
        (48, 64, 14, True, ("max", 2)),   # 7x7x64 -> 3x3x64 -> 10
        (64, 96, 7, False, ("max", 2)),   # 7x7x96 -> 3x3x96 -> 10
        (96, 128, 7, False, "gap"),       # 7x7x128 -> 128 -> 10 (final classifier)
    ]
    stages = [Stage(ci, co, hw, p, icp, i == len(cfg) - 1) for i, (ci, co, hw, p, icp) in
              enumerate(cfg)]
    return nn.ModuleList(stages)


def forward_all(stages, x):
    outs = []
    h = x
    for s in stages:
        if s.last:
            outs.append(s(h))
        else:
            h, lg = s(h)
            outs.append(lg)
    return outs


def evaluate(stages, x, y, bs=1000):
    stages.eval()
    n = len(stages)
    correct = np.zeros(n, dtype=np.int64)
    with torch.no_grad():
        for i in range(0, len(x), bs):
            outs = forward_all(stages, x[i:i + bs])
            for k, o in enumerate(outs):
                correct[k] += int((o.argmax(1) == y[i:i + bs]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models",
                                                  "fmnist-ee"))
    ap.add_argument("--measure", action="store_true", help="time 50 batches and exit")
    ap.add_argument("--smoke", action="store_true",
                    help="train 20 batches only (checks the export path; accuracy is poor)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    mean = float(xtr.mean())
    std = float(xtr.std())
    xtr = torch.from_numpy((xtr - mean) / std)
    xte = torch.from_numpy((xte - mean) / std)
    ytr = torch.from_numpy(ytr)
    yte = torch.from_numpy(yte)

    stages = build_model()
    n = len(stages)
    weights = [(i + 1) / n for i in range(n)]
    nparams = sum(p.numel() for p in stages.parameters())
    print(f"params: {nparams}", file=sys.stderr)

    bs = 128
    steps_per_epoch = (len(xtr) + bs - 1) // bs
    opt = torch.optim.Adam(stages.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    g = torch.Generator()
    g.manual_seed(SEED)
    t_start = time.time()
    for epoch in range(args.epochs):
        stages.train()
        perm = torch.randperm(len(xtr), generator=g)
        t0 = time.time()
        total = 0.0
        for step in range(steps_per_epoch):
            idx = perm[step * bs:(step + 1) * bs]
            outs = forward_all(stages, xtr[idx])
            loss = sum(w * F.cross_entropy(o, ytr[idx]) for w, o in zip(weights, outs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
            if args.measure and step == 49:
                dt = time.time() - t0
                print(f"50 batches: {dt:.1f} s -> epoch ~ {dt * steps_per_epoch / 50:.0f} s",
                      file=sys.stderr)
                return
            if args.smoke and step == 19:
                break
        acc = evaluate(stages, xte, yte)
        print(f"epoch {epoch + 1}: loss {total / steps_per_epoch:.4f} "
              f"test acc {' '.join(f'{a:.4f}' for a in acc)} ({time.time() - t0:.0f} s)",
              file=sys.stderr)
    train_s = time.time() - t_start
    acc = evaluate(stages, xte, yte)
    export(stages, args.out, mean, std, acc, xte, yte, args.epochs, train_s, nparams)


def export(stages, out, mean, std, acc, xte, yte, epochs, train_s, nparams):
    os.makedirs(out, exist_ok=True)
    stages.eval()
    files = []
    shape = [1, 28, 28]
    for i, s in enumerate(stages):
        name = f"stage{i + 1}.onnx"
        dummy = torch.zeros([2] + shape)
        outputs = ["logits"] if s.last else ["hidden", "logits"]
        dyn = {"x": {0: "N"}}
        for o in outputs:
            dyn[o] = {0: "N"}
        # PRESERVE with the module in eval mode keeps BatchNormalization as a node (EVAL would
        # let the exporter fold it into Conv); the C loader does the folding.
        torch.onnx.export(s, dummy, os.path.join(out, name), input_names=["x"],
                          output_names=outputs, dynamic_axes=dyn, opset_version=13,
                          do_constant_folding=False,
                          training=torch.onnx.TrainingMode.PRESERVE)
        files.append({"file": name, "input_shape": shape,
                      "hidden_shape": None if s.last else s.out_shape,
                      "outputs": outputs, "classifier_test_accuracy": round(float(acc[i]), 4)})
        shape = s.out_shape
    # Golden: the first N_GOLDEN test images, their logits at every classifier.
    gx = xte[:N_GOLDEN]
    with torch.no_grad():
        outs = forward_all(stages, gx)
    gx.numpy().astype("<f4").tofile(os.path.join(out, "golden_input.f32"))
    np.stack([o.numpy() for o in outs]).astype("<f4").tofile(
        os.path.join(out, "golden_logits.f32"))
    manifest = {
        "name": "fmnist-ee",
        "format": "serflow-ee-onnx/1",
        "input": {"name": "x", "shape": [1, 28, 28], "dtype": "float32", "layout": "NCHW"},
        "normalization": {"mean": [round(mean, 6)], "std": [round(std, 6)],
                          "note": "x = (pixel / 255 - mean) / std, applied by the caller"},
        "labels": LABELS,
        "num_classes": 10,
        "stages": files,
        "training": {"script": "tools/train_fmnist.py", "seed": SEED, "epochs": epochs,
                     "threads": 1, "torch": torch.__version__, "optimizer": "Adam+OneCycle",
                     "loss_weights": [(i + 1) / len(stages) for i in range(len(stages))],
                     "params": nparams, "train_seconds": round(train_s)},
        "golden": {"count": N_GOLDEN, "test_indices": [0, N_GOLDEN - 1],
                   "input_file": "golden_input.f32", "logits_file": "golden_logits.f32",
                   "labels": [int(v) for v in yte[:N_GOLDEN]]},
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("accuracy per classifier: " + " ".join(f"{a:.4f}" for a in acc), file=sys.stderr)


if __name__ == "__main__":
    main()
