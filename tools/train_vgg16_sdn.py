#!/usr/bin/python3
"""train_vgg16_sdn.py - trains the SERFLOW paper's model, VGG16 with Shallow-Deep-Networks
internal classifiers (11 partitions), on Fashion-MNIST resized to 32x32, and exports it in
serflow's early-exit format (models/vgg16-sdn).

Architecture (the SDN authors' VGG16 for 32x32 inputs, Kaya et al. 2019; internal classifiers
after conv blocks 1..10 as SERFLOW places them, so 11 partitions):
  13 conv blocks: conv3x3 (bias) -> BatchNorm -> ReLU [-> maxpool 2 after blocks 2, 4, 7, 10,
  13]; channels 64 64 | 128 128 | 256 256 256 | 512 512 512 | 512 512 512.
  Internal classifier after block k (k = 1..10), SDN's: "mixed" pooling
  alpha * maxpool(r) + (1 - alpha) * avgpool(r) with a learnt scalar alpha and r the reduction
  that brings the map to 4x4 (r = side / 4; a 2x2 map is not pooled), then one linear layer.
  Final classifier (partition 11 = blocks 11..13): flatten 512 -> linear 512 -> ReLU -> dropout
  -> linear 512 -> ReLU -> dropout -> linear 10.
  Input: one grey channel (Fashion-MNIST has no colour; the paper's CIFAR-10 has 3), so conv1
  is 1 -> 64; everything else is full width. 28x28 images are resized to 32x32 bilinearly
  (torch's interpolate, align_corners=False: what serflow's sf_nn_dataset_resize does).

Training (SDN's "SDN training": all classifiers from scratch, at once): loss = final CE +
sum_k w_k(epoch) CE_k, internal weights ramped linearly per epoch from 0.01 towards
0.9 * k / 10 as SDN ramps its 0.15..0.9; SGD (momentum 0.9, Nesterov, weight decay 5e-4) with a
one-cycle learning rate, batch 128, no augmentation, channels_last tensors (3x faster
training on this CPU). Seeded; at most 2 torch threads.
A checkpoint (model, optimiser, scheduler and RNG states) is written every --ckpt-steps steps
and at the end of every epoch; --resume continues from it exactly (same data order, same
dropout masks).

Outputs (in --out, default models/vgg16-sdn), through tools/export_ee.py:
  stage1.onnx .. stage11.onnx, model.json, golden_input.f32 [16,1,32,32],
  golden_logits.f32 [11,16,10].

The bundled models/vgg16-sdn: planned for 8 epochs, the machine (2 cores shared with other
sessions, training at nice 19) gave it a fraction of a core, so the one-cycle schedule was
shortened on resume three times (8 -> 4 epochs at the start of epoch 2, -> 3 after its step
100, -> 2 after its step 200), to end after 2 epochs (the learning rate moves to the
shorter curve at the step reached; model.json's training.log records each change). The exact
sequence, from scratch:
  T="nice -n 19 /usr/bin/python3 tools/train_vgg16_sdn.py --ckpt /tmp/vgg.ckpt"
  $T --epochs 8 --stop-after-epochs 1
  $T --epochs 4 --resume --stop-at-step 100
  $T --epochs 3 --resume --stop-at-step 200
  $T --epochs 2 --resume
(PyTorch's CPU kernels on 2 threads are not guaranteed bit-reproducible; a plain
`--epochs 2` run is the same recipe without the schedule changes.)

Usage: nice -n 19 /usr/bin/python3 tools/train_vgg16_sdn.py [--epochs E] [--train-n N]
         [--threads T] [--ckpt PATH] [--resume] [--export-only] [--measure] [--smoke]
         [--stop-at-step S] [--stop-after-epochs E]
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

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
SEED = 20260402
SIDE = 32
N_GOLDEN = 16

# (output channels, maxpool 2 after) per conv block: the SDN authors' VGG16.
BLOCKS = [(64, False), (64, True), (128, False), (128, True), (256, False), (256, False),
          (256, True), (512, False), (512, False), (512, True), (512, False), (512, False),
          (512, True)]
N_IC = 10  # internal classifiers after blocks 1..10


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = int.from_bytes(data[0:4], "big") & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split):
    """Images as float32 pixel/255 resized to 32x32 [n,1,32,32], labels int64."""
    x = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    t = torch.from_numpy(x.reshape(-1, 1, 28, 28))
    t = F.interpolate(t, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return t.contiguous(), torch.from_numpy(y)


class ConvBlock(nn.Sequential):
    def __init__(self, cin, cout, pool):
        layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class InternalClassifier(nn.Module):
    """SDN's internal classifier: mixed max/average pooling down to 4x4, then linear."""

    def __init__(self, side, channels, classes=10):
        super().__init__()
        self.red = side // 4 if side >= 4 else 0
        if self.red:
            self.alpha = nn.Parameter(torch.rand(1))
            feat = channels * (side // self.red) ** 2
        else:
            feat = channels * side * side
        self.linear = nn.Linear(feat, classes)
        self.exporting = False

    def forward(self, x):
        if self.red:
            mx = F.max_pool2d(x, self.red)
            av = F.avg_pool2d(x, self.red)
            if self.exporting:
                # Constants at export: Mul by a scalar, Add of two activations (no Sub of
                # initialisers left for the loader).
                a = float(self.alpha.detach())
                x = mx * a + av * (1.0 - a)
            else:
                x = self.alpha * mx + (1 - self.alpha) * av
        return self.linear(torch.flatten(x, 1))


class FinalClassifier(nn.Sequential):
    def __init__(self, classes=10):
        super().__init__(nn.Flatten(), nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, classes))


def build_model():
    """Returns (bodies, heads, hidden shapes): body k maps partition k's input to its hidden
    state, head k maps that to logits; partition 11 is blocks 11..13 with the final head."""
    bodies, heads, shapes = [], [], []
    cin, side = 1, SIDE
    for k, (cout, pool) in enumerate(BLOCKS):
        block = ConvBlock(cin, cout, pool)
        cin = cout
        side = side // 2 if pool else side
        if k < N_IC:
            bodies.append(block)
            heads.append(InternalClassifier(side, cout))
            shapes.append([cout, side, side])
        elif k == N_IC:
            bodies.append(nn.Sequential(block))
        else:
            bodies[-1].append(block)
    heads.append(FinalClassifier())
    shapes.append(None)
    return nn.ModuleList(bodies), nn.ModuleList(heads), shapes


def forward_all(bodies, heads, x):
    # channels_last: PyTorch's CPU convolutions train 3x faster here than in NCHW.
    x = x.contiguous(memory_format=torch.channels_last)
    outs = []
    for b, h in zip(bodies, heads):
        x = b(x)
        outs.append(h(x))
    return outs


def evaluate(bodies, heads, x, y, bs=500):
    bodies.eval()
    heads.eval()
    correct = np.zeros(len(bodies), dtype=np.int64)
    conf = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            outs = forward_all(bodies, heads, x[i:i + bs])
            for k, o in enumerate(outs):
                correct[k] += int((o.argmax(1) == y[i:i + bs]).sum())
            conf.append(torch.stack([F.softmax(o, 1) for o in outs], 1))
    return correct / len(x), torch.cat(conf)


def early_exit_table(probs, y, taus):
    """probs [n, stages, classes]: the serflow exit rule per tau (first classifier whose max
    softmax >= tau; else the most confident one, the earliest on ties)."""
    n, s, _ = probs.shape
    conf, pred = probs.max(2)
    rows = []
    for tau in taus:
        clear = conf >= tau
        exit_at = torch.where(clear.any(1), clear.float().argmax(1),
                              torch.full((n,), s - 1, dtype=torch.long))
        best = conf.argmax(1)  # first maximum
        ans = torch.where(clear.any(1), exit_at, best)
        answer = pred[torch.arange(n), ans]
        frac = [float((exit_at == k).float().mean()) for k in range(s)]
        rows.append({"tau": tau, "exit_fraction": [round(f, 4) for f in frac],
                     "accuracy": round(float((answer == y).float().mean()), 4),
                     "mean_stages": round(float((exit_at + 1).float().mean()), 3)})
    return rows


def ic_weights(epoch, epochs):
    """SDN's ramp: 0.01 + epoch * max_k / epochs, max_k = 0.9 k / 10; final classifier 1."""
    return [0.01 + epoch * (0.9 * (k + 1) / N_IC) / epochs for k in range(N_IC)] + [1.0]


def save_ckpt(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train-n", type=int, default=60000, help="training images used")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-lr", type=float, default=0.05)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models", "vgg16-sdn"))
    ap.add_argument("--ckpt", default="/tmp/vgg16-sdn.ckpt")
    ap.add_argument("--ckpt-steps", type=int, default=100)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true",
                    help="export the checkpoint's (finished) model")
    ap.add_argument("--measure", action="store_true", help="time 10 steps and exit")
    ap.add_argument("--smoke", action="store_true", help="10 steps per epoch (export check)")
    ap.add_argument("--test-n", type=int, default=10000, help="test images evaluated")
    ap.add_argument("--stop-at-step", type=int, default=0,
                    help="exit after the checkpoint at this step (tests --resume)")
    ap.add_argument("--stop-after-epochs", type=int, default=0,
                    help="exit after the checkpoint at the end of this epoch")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(max(1, min(args.threads, 2)))
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    mean = float(xtr.mean())
    std = float(xtr.std())
    xtr = ((xtr - mean) / std)[:args.train_n]
    ytr = ytr[:args.train_n]
    xte = ((xte - mean) / std)[:args.test_n]
    yte = yte[:args.test_n]

    bodies, heads, shapes = build_model()
    bodies.to(memory_format=torch.channels_last)
    heads.to(memory_format=torch.channels_last)
    params = list(bodies.parameters()) + list(heads.parameters())
    nparams = sum(p.numel() for p in params)
    print(f"params: {nparams} ({nparams * 4 / 1e6:.1f} MB float32)", file=sys.stderr)

    bs = args.batch
    steps = (len(xtr) + bs - 1) // bs
    if args.smoke:
        steps = 10
    opt = torch.optim.SGD(params, lr=args.max_lr / 25, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.max_lr, epochs=args.epochs,
                                                steps_per_epoch=steps)
    g = torch.Generator()
    g.manual_seed(SEED)
    epoch, step0, train_s, log = 0, 0, 0.0, []
    if args.resume or args.export_only:
        ck = torch.load(args.ckpt)
        bodies.load_state_dict(ck["bodies"])
        heads.load_state_dict(ck["heads"])
        opt.load_state_dict(ck["opt"])
        g.set_state(ck["gen"])
        torch.set_rng_state(ck["rng"])
        epoch, step0, train_s, log = ck["epoch"], ck["step"], ck["train_s"], ck["log"]
        planned = ck["args"]["epochs"]
        if planned == args.epochs or args.export_only:
            sched.load_state_dict(ck["sched"])
        else:
            # A shorter (or longer) run than the checkpoint planned: the one-cycle schedule of
            # the new length, positioned at the steps already taken (the learning rate moves
            # to the new curve's value there and anneals to its end).
            done = epoch * steps + step0
            if done >= args.epochs * steps:
                sys.exit(f"train_vgg16_sdn: {done} steps done, a {args.epochs}-epoch run has "
                         f"{args.epochs * steps}")
            sched.last_epoch = done - 1
            sched.step()
            print(f"schedule changed from {planned} to {args.epochs} epochs at step {done}: "
                  f"lr {opt.param_groups[0]['lr']:.4g}", file=sys.stderr)
            log.append({"schedule_changed_at_step": done, "from_epochs": planned,
                        "to_epochs": args.epochs})
        print(f"resumed at epoch {epoch + 1} step {step0}", file=sys.stderr)

    def state(ep, st, perm):
        return {"bodies": bodies.state_dict(), "heads": heads.state_dict(),
                "opt": opt.state_dict(), "sched": sched.state_dict(), "gen": g.get_state(),
                "rng": torch.get_rng_state(), "epoch": ep, "step": st, "perm": perm,
                "train_s": train_s, "log": log, "args": vars(args)}

    while epoch < args.epochs and not args.export_only:
        if step0 == 0:
            perm = torch.randperm(len(xtr), generator=g)
        else:
            perm = ck["perm"]
        w = ic_weights(epoch, args.epochs)
        bodies.train()
        heads.train()
        t0 = time.time()
        t_last = t0
        total = 0.0
        for step in range(step0, steps):
            idx = perm[step * bs:(step + 1) * bs]
            outs = forward_all(bodies, heads, xtr[idx])
            loss = sum(wk * F.cross_entropy(o, ytr[idx]) for wk, o in zip(w, outs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
            if args.measure and step == 9:
                dt = time.time() - t0
                print(f"10 steps: {dt:.1f} s -> epoch of {steps} steps ~ {dt * steps / 10:.0f} s",
                      file=sys.stderr)
                return
            if (step + 1) % args.ckpt_steps == 0 and step + 1 < steps:
                now = time.time()
                train_s += now - t_last
                t_last = now
                save_ckpt(args.ckpt, state(epoch, step + 1, perm))
                print(f"epoch {epoch + 1} step {step + 1}/{steps}: loss {float(loss):.4f} "
                      f"({train_s:.0f} s)", file=sys.stderr, flush=True)
                if step + 1 == args.stop_at_step:
                    return
        train_s += time.time() - t_last
        acc, _ = evaluate(bodies, heads, xte, yte)
        log.append({"epoch": epoch + 1, "loss": round(total / max(1, steps - step0), 4),
                    "test_accuracy": [round(float(a), 4) for a in acc],
                    "train_seconds": round(train_s)})
        print(f"epoch {epoch + 1}: test acc {' '.join(f'{a:.4f}' for a in acc)} "
              f"({train_s:.0f} s)", file=sys.stderr, flush=True)
        epoch, step0 = epoch + 1, 0
        save_ckpt(args.ckpt, state(epoch, 0, None))
        if epoch == args.stop_after_epochs:
            return

    acc, probs = evaluate(bodies, heads, xte, yte)
    taus = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.01]
    table = early_exit_table(probs, yte, taus)
    for r in table:
        print(f"tau {r['tau']}: acc {r['accuracy']:.4f} mean stages {r['mean_stages']:.2f} "
              f"exits {' '.join(f'{f:.3f}' for f in r['exit_fraction'])}", file=sys.stderr)
    if args.no_export:
        return
    sys.path.insert(0, HERE)
    import export_ee  # noqa: E402  (tools/export_ee.py, next to this script)
    bodies.to(memory_format=torch.contiguous_format)
    heads.to(memory_format=torch.contiguous_format)
    for h in heads:
        h.exporting = True
    training = {"script": "tools/train_vgg16_sdn.py", "seed": SEED, "epochs": args.epochs,
                "train_images": len(xtr), "threads": torch.get_num_threads(),
                "torch": torch.__version__, "optimizer": "SGD(nesterov)+OneCycle",
                "max_lr": args.max_lr, "batch": bs, "loss_weights_last_epoch":
                [round(v, 4) for v in ic_weights(args.epochs - 1, args.epochs)],
                "params": nparams, "train_seconds": round(train_s), "log": log,
                "smoke": bool(args.smoke)}
    training["early_exit"] = table
    training["preprocessing"] = ("28x28 Fashion-MNIST resized to 32x32 bilinearly "
                                 "(align_corners=False), one grey channel")
    export_ee.export(
        bodies, heads, args.out, name="vgg16-sdn", input_shape=[1, SIDE, SIDE],
        labels=LABELS, mean=[round(mean, 6)], std=[round(std, 6)],
        golden_x=xte[:N_GOLDEN], golden_labels=[int(v) for v in yte[:N_GOLDEN]],
        accuracy=[float(a) for a in acc], training=training,
        note="x = (pixel / 255 - mean) / std on the 28x28 image resized to 32x32 (bilinear, "
             "half-pixel centres), applied by the caller")
    print("accuracy per classifier: " + " ".join(f"{a:.4f}" for a in acc), file=sys.stderr)


if __name__ == "__main__":
    main()
