#!/usr/bin/python3
"""nn_peers.py - the peer runtimes for bench/nn_vs_peers.sh, and the script's orchestrator.

Worker mode (one long-lived process per runtime, a line protocol on stdin/stdout):
  /usr/bin/python3 bench/nn_peers.py --worker torch-eager|torch-script|opencv [--model DIR]
  stdin  "check"              -> "logits v1 v2 ..." (every classifier's logits for the 16 golden
                                 images, [stages,16,10] row-major, as golden_logits.f32)
  stdin  "run T B R"          -> "times t1 ... tR" (seconds; whole model, every stage and its
                                 classifier, no early exit, batch B, T threads; the first
                                 "run" of a (T, B) pair is preceded by 5 untimed warm-up runs)
  stdin  "quit"
Runtimes, all on the same ONNX stage files of the bundled model:
  torch-eager   PyTorch eager: tools/train_fmnist.py's modules with the stage files' weights
  torch-script  the same, torch.jit.trace + torch.jit.freeze + torch.jit.optimize_for_inference
                (PyTorch at its best on CPU), traced once per batch size
  opencv        OpenCV DNN (cv2.dnn.readNetFromONNX on each stage file), default CPU backend

Orchestrator mode (called by bench/nn_vs_peers.sh with every worker's command line):
  /usr/bin/python3 bench/nn_peers.py --orchestrate --rounds N --peak1 GF --peak2 GF \
      --flops F name=cmd ...
Interleaves blocks of runs of every runtime (order rotated each round) per (threads, batch),
checks every runtime's logits against the golden file and against serflow's, and prints the
table, the ratios, GFLOP/s against the measured FMA peak and the verdict line.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "models", "fmnist-ee")
WARMUP = 5


def golden_input(model_dir):
    import numpy as np
    gx = np.fromfile(os.path.join(model_dir, "golden_input.f32"), dtype="<f4")
    return gx.reshape(-1, 1, 28, 28)


def batch_of(gx, b):
    import numpy as np
    return np.ascontiguousarray(gx[np.arange(b) % gx.shape[0]])


class Torch:
    def __init__(self, model_dir, script):
        import torch
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import nn_torch  # noqa: E402 (rebuilds the modules, loads the stage files' weights)
        self.torch = torch
        self.stages = nn_torch.load(model_dir)
        self.script = script
        self.traced = {}

    def _fn(self, b):
        torch = self.torch
        if not self.script:
            import train_fmnist
            return lambda x: train_fmnist.forward_all(self.stages, x)
        if b not in self.traced:
            import train_fmnist

            class All(torch.nn.Module):
                def __init__(self, stages):
                    super().__init__()
                    self.stages = stages

                def forward(self, x):
                    return tuple(train_fmnist.forward_all(self.stages, x))

            with torch.no_grad():
                ex = torch.zeros(b, 1, 28, 28)
                m = torch.jit.trace(All(self.stages).eval(), ex)
                m = torch.jit.freeze(m)
                m = torch.jit.optimize_for_inference(m)
            self.traced[b] = m
        return self.traced[b]

    def forward(self, x, threads):
        torch = self.torch
        torch.set_num_threads(threads)
        fn = self._fn(x.shape[0])
        with torch.no_grad():
            outs = fn(torch.from_numpy(x))
        return [o.numpy() for o in outs]


class OpenCV:
    def __init__(self, model_dir):
        import cv2
        self.cv2 = cv2
        self.nets = []
        k = 1
        while os.path.exists(os.path.join(model_dir, f"stage{k}.onnx")):
            net = cv2.dnn.readNetFromONNX(os.path.join(model_dir, f"stage{k}.onnx"))
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
            self.nets.append(net)
            k += 1

    def forward(self, x, threads):
        self.cv2.setNumThreads(threads)
        outs = []
        h = x
        for i, net in enumerate(self.nets):
            net.setInput(h, "x")
            if i == len(self.nets) - 1:
                outs.append(net.forward("logits"))
            else:
                h, lg = net.forward(["hidden", "logits"])
                outs.append(lg)
        return outs


def worker(kind, model_dir):
    import numpy as np
    if kind == "torch-eager":
        rt = Torch(model_dir, script=False)
    elif kind == "torch-script":
        rt = Torch(model_dir, script=True)
    elif kind == "opencv":
        rt = OpenCV(model_dir)
    else:
        raise SystemExit(f"nn_peers: unknown runtime {kind}")
    gx = golden_input(model_dir)
    seen = set()
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "quit":
            break
        if w[0] == "check":
            outs = rt.forward(gx, 1)
            v = np.stack(outs).ravel()
            print("logits " + " ".join(f"{f:.7g}" for f in v), flush=True)
        elif w[0] == "run" and len(w) == 4:
            t, b, r = int(w[1]), int(w[2]), int(w[3])
            x = batch_of(gx, b)
            if (t, b) not in seen:
                for _ in range(WARMUP):
                    rt.forward(x, t)
                seen.add((t, b))
            times = []
            for _ in range(r):
                t0 = time.perf_counter()
                rt.forward(x, t)
                times.append(time.perf_counter() - t0)
            print("times " + " ".join(f"{s:.7f}" for s in times), flush=True)
        else:
            print(f"error unknown command {line.strip()}", flush=True)


def quantile(sorted_v, q):
    """The q-quantile by the ceiling rank (the p99 of 100 values is the 99th smallest)."""
    k = max(1, -(-int(q * 100) * len(sorted_v) // 100))
    return sorted_v[min(len(sorted_v), k) - 1]


def orchestrate(args):
    import numpy as np
    golden = np.fromfile(os.path.join(args.model, "golden_logits.f32"), dtype="<f4")
    names, procs = [], {}
    for spec in args.workers:
        name, cmd = spec.split("=", 1)
        names.append(name)
        procs[name] = subprocess.Popen(shlex.split(cmd), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(name, line):
        p = procs[name]
        p.stdin.write(line + "\n")
        p.stdin.flush()
        ans = p.stdout.readline().split()
        if not ans or ans[0] == "error":
            raise SystemExit(f"nn_peers: {name} answered {' '.join(ans) or 'nothing'} to {line}")
        return ans

    # Logits: every runtime against the golden file (PyTorch at training time) and serflow.
    logits = {n: np.array([float(v) for v in ask(n, "check")[1:]], dtype=np.float64)
              for n in names}
    ref = logits[names[0]]
    worst = 0.0
    for n in names:
        if logits[n].shape != golden.shape:
            raise SystemExit(f"nn_peers: {n} gave {logits[n].size} logits, want {golden.size}")
        dg = float(np.abs(logits[n] - golden).max())
        ds = float(np.abs(logits[n] - ref).max())
        worst = max(worst, dg)
        print(f"logits {n:13s} max abs diff: {dg:.2e} to golden, {ds:.2e} to {names[0]}")
    if worst > args.logit_tol:
        raise SystemExit(f"nn_peers: logits disagree by {worst:.3g} (> {args.logit_tol})")

    configs = [(t, b) for t in (1, 2) for b in (1, 100)]
    times = {(n, t, b): [] for n in names for (t, b) in configs}
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for (t, b) in configs:
            reps = args.reps1 if b == 1 else args.reps100
            for n in order:
                times[(n, t, b)] += [float(v) for v in ask(n, f"run {t} {b} {reps}")[1:]]
        print(f"round {rnd + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)
    for n in names:
        ask_quit = procs[n]
        ask_quit.stdin.write("quit\n")
        ask_quit.stdin.flush()
    for p in procs.values():
        p.wait(timeout=60)

    peaks = {1: args.peak1, 2: args.peak2}
    print(f"\nmodel {args.flops / 1e6:.1f} MFLOP per image; measured FMA peak "
          f"{args.peak1:.0f} GFLOP/s (1 thread), {args.peak2:.0f} GFLOP/s (2 threads)")
    print(f"{'runtime':14s} {'thr':>3s} {'batch':>5s} {'median ms':>10s} {'p99 ms':>9s} "
          f"{'img/s':>8s} {'GFLOP/s':>8s} {'% peak':>6s} {'serflow x':>9s}")
    verdict = {}
    for (t, b) in configs:
        med = {}
        for n in names:
            v = sorted(times[(n, t, b)])
            med[n] = statistics.median(v)
            gf = b * args.flops / med[n] / 1e9
            print(f"{n:14s} {t:3d} {b:5d} {med[n] * 1e3:10.3f} {quantile(v, 0.99) * 1e3:9.3f} "
                  f"{b / med[n]:8.0f} {gf:8.1f} {100 * gf / peaks[t]:6.0f} "
                  f"{med[n] / med[names[0]]:9.2f}")
        peers = [n for n in names[1:]]
        fastest = min(peers, key=lambda n: med[n])
        ratio = med[fastest] / med[names[0]]
        print(f"threads {t} batch {b}: fastest peer {fastest}, {names[0]} {ratio:.2f}x faster")
        verdict[b] = min(verdict.get(b, ratio), ratio)
    print(f"vs fastest peer: batch 1 {verdict[1]:.2f}x, batch 100 {verdict[100]:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--orchestrate", action="store_true")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--reps1", type=int, default=100)
    ap.add_argument("--reps100", type=int, default=10)
    ap.add_argument("--peak1", type=float, default=0)
    ap.add_argument("--peak2", type=float, default=0)
    ap.add_argument("--flops", type=float, default=0)
    ap.add_argument("--logit-tol", type=float, default=1e-3)
    ap.add_argument("workers", nargs="*")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.model)
    elif args.orchestrate:
        orchestrate(args)
    else:
        ap.error("--worker KIND or --orchestrate")


if __name__ == "__main__":
    main()
