#!/usr/bin/python3
"""nn_torch.py - the bundled model in PyTorch, on the committed ONNX stage files' weights.

load() rebuilds the modules with tools/train_fmnist.py's build_model() and loads the weights
from the stage files (initializer names are the modules' state_dict names); bench/nn_peers.py
uses it for its PyTorch eager and TorchScript workers. Run alone, it checks the logits against
the golden file and times the whole model (all stages, no early exit) at one batch size,
printing one line in bench_nn's "e2e" format; --flops counts the model's FLOPs with hooks (a
cross-check of sf_nn_stage_flops).

Usage: /usr/bin/python3 bench/nn_torch.py --threads T --batch B [--reps R]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import train_fmnist  # noqa: E402


def load(model_dir):
    stages = train_fmnist.build_model()
    for i, s in enumerate(stages):
        m = onnx.load(os.path.join(model_dir, f"stage{i + 1}.onnx"))
        sd = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
        missing, unexpected = s.load_state_dict(sd, strict=False)
        if unexpected or [k for k in missing if not k.endswith("num_batches_tracked")]:
            raise SystemExit(f"stage {i + 1}: weights do not match: {missing} {unexpected}")
    return stages.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "fmnist-ee"))
    ap.add_argument("--flops", action="store_true",
                    help="print the model's FLOPs per image (2 x multiply-adds of every Conv and "
                         "Linear, counted with forward hooks) and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    stages = load(args.model)
    if args.flops:
        macs = [0]

        def hook(mod, inp, out):
            if isinstance(mod, torch.nn.Conv2d):
                k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
                macs[0] += out[0].numel() * k
            elif isinstance(mod, torch.nn.Linear):
                macs[0] += mod.in_features * mod.out_features

        for m in stages.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.register_forward_hook(hook)
        with torch.no_grad():
            train_fmnist.forward_all(stages, torch.zeros(1, 1, 28, 28))
        print(f"flops_per_image={2 * macs[0]}")
        return
    gx = np.fromfile(os.path.join(args.model, "golden_input.f32"), dtype="<f4")
    gx = torch.from_numpy(gx.reshape(-1, 1, 28, 28))
    gl = np.fromfile(os.path.join(args.model, "golden_logits.f32"), dtype="<f4")
    with torch.no_grad():
        outs = train_fmnist.forward_all(stages, gx)
    diff = float(np.abs(np.stack([o.numpy() for o in outs]).ravel() - gl).max())
    if diff > 1e-4:
        raise SystemExit(f"rebuilt model disagrees with golden logits by {diff}")
    x = gx[torch.arange(args.batch) % gx.shape[0]].contiguous()
    times = []
    with torch.no_grad():
        for i in range(args.reps + 5):
            t0 = time.perf_counter()
            outs = train_fmnist.forward_all(stages, x)
            torch.softmax(outs[-1], 1)
            if i >= 5:
                times.append(time.perf_counter() - t0)
    times.sort()
    med = statistics.median(times)
    p99 = times[min(len(times) - 1, (99 * len(times) + 99) // 100 - 1)]
    print(f"e2e backend=torch-eager threads={args.threads} batch={args.batch} median_s={med:.6f} "
          f"p99_s={p99:.6f} req_per_s={args.batch / med:.1f}")


if __name__ == "__main__":
    main()
