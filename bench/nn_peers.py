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
  /usr/bin/python3 bench/nn_peers.py --orchestrate --rounds N [--runs R] --peak1 GF \
      --peak2 GF --flops F name=cmd ...   (the first worker is serflow's: it also answers
      "flops T B" with the FLOPs per image its runs executed)
Interleaves blocks of runs of every runtime (order rotated each round) per (threads, batch),
checks every runtime's logits against the golden file and against serflow's, and prints per
run the table (GFLOP/s at the direct-convolution count for every runtime; % peak: executed
FLOPs, serflow's own count of the implementations its runs chose, over the measured FMA peak),
the ratios, then their medians over the R runs, the batch-1 bound and the verdict line.
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


def one_run(args, names, ask, configs):
    """Interleaved rounds of every runtime and configuration: {(name, t, b): [seconds]}."""
    times = {(n, t, b): [] for n in names for (t, b) in configs}
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for (t, b) in configs:
            reps = args.reps1 if b == 1 else args.reps100
            for n in order:
                times[(n, t, b)] += [float(v) for v in ask(n, f"run {t} {b} {reps}")[1:]]
        print(f"round {rnd + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)
    return times


def report(args, names, configs, times, execf):
    """Prints one run's table; returns {(t, b): (ratio, fastest peer, serflow median s)}."""
    peaks = {1: args.peak1, 2: args.peak2}
    print(f"\n{'runtime':14s} {'thr':>3s} {'batch':>5s} {'median ms':>10s} {'p99 ms':>9s} "
          f"{'img/s':>8s} {'GFLOP/s':>8s} {'% peak':>6s} {'serflow x':>9s}")
    out = {}
    for (t, b) in configs:
        med = {}
        for n in names:
            v = sorted(times[(n, t, b)])
            med[n] = statistics.median(v)
            gf = b * args.flops / med[n] / 1e9
            # % peak: what the runtime executes over the measured peak of t threads. serflow:
            # its own count (sf_nn_exec_flops); the peers: the direct count.
            ex = execf[(t, b)] if n == names[0] else args.flops
            pk = 100 * b * ex / med[n] / 1e9 / peaks[t] if peaks[t] else 0
            print(f"{n:14s} {t:3d} {b:5d} {med[n] * 1e3:10.3f} {quantile(v, 0.99) * 1e3:9.3f} "
                  f"{b / med[n]:8.0f} {gf:8.1f} {pk:6.0f} {med[n] / med[names[0]]:9.2f}")
        fastest = min(names[1:], key=lambda n: med[n])
        ratio = med[fastest] / med[names[0]]
        print(f"threads {t} batch {b}: fastest peer {fastest}, {names[0]} {ratio:.2f}x faster")
        out[(t, b)] = (ratio, fastest, med[names[0]], execf[(t, b)])
    return out


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

    # FLOPs and the peak, stated once: what "% peak" means.
    print(f"\nmodel: {args.flops / 1e6:.1f} MFLOP per image as direct convolutions (2 x "
          f"multiply-adds, zero padding included: the GFLOP/s column, every runtime)")
    print(f"measured FMA peak: {args.peak1:.1f} GFLOP/s on 1 thread, {args.peak2:.1f} on 2 "
          f"(bench_nn --fma-peak: fastest of 2000 bursts); % peak = executed FLOPs (serflow: "
          f"its own count; peers: the direct count) over the peak of the threads given "
          f"(a batch of 1 runs on one of them)")

    configs = [(t, b) for t in (1, 2) for b in (1, 100)]
    runs = []
    for run in range(args.runs):
        if args.runs > 1:
            print(f"\nrun {run + 1}/{args.runs} (load {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
                  flush=True)
        times = one_run(args, names, ask, configs)
        # What serflow executed: each convolution's implementation is chosen by timing in its
        # first runs (Winograd F(4x4,3x3) or F(2x2,3x3), or direct), so ask after the runs.
        execf = {k: float(ask(names[0], f"flops {k[0]} {k[1]}")[1]) for k in configs}
        print("serflow executed " + ", ".join(
            f"{execf[k] / 1e6:.1f} (threads {k[0]}, batch {k[1]})" for k in configs) +
            " MFLOP per image (sf_nn_exec_flops of the implementations its runs chose: Winograd "
            "products, direct taps inside the input; tile transforms not counted)")
        runs.append(report(args, names, configs, times, execf))
    for n in names:
        procs[n].stdin.write("quit\n")
        procs[n].stdin.flush()
    for p in procs.values():
        p.wait(timeout=60)

    ratio = {k: statistics.median(r[k][0] for r in runs) for k in configs}
    med1 = statistics.median(r[(1, 1)][2] for r in runs)
    ex1 = statistics.median(r[(1, 1)][3] for r in runs)
    if args.runs > 1:
        print(f"\nmedian of {args.runs} runs (each run's ratio in brackets):")
        for k in configs:
            each = " ".join(f"{r[k][0]:.2f} ({r[k][1]})" for r in runs)
            print(f"threads {k[0]} batch {k[1]}: {ratio[k]:.2f}x  [{each}]")
    if args.peak1:
        bound = ex1 / args.peak1 / 1e9
        print(f"batch-1 bound on 1 thread: {ex1 / 1e6:.1f} MFLOP executed at the measured "
              f"{args.peak1:.1f} GFLOP/s = {bound * 1e3:.3f} ms; serflow {med1 * 1e3:.3f} ms "
              f"= {100 * bound / med1:.0f} % of the peak (direct convolutions at the peak: "
              f"{args.flops / args.peak1 / 1e6:.3f} ms)")
    v1 = min(ratio[(1, 1)], ratio[(2, 1)])
    v100 = min(ratio[(1, 100)], ratio[(2, 100)])
    print(f"vs fastest peer: batch 1 {v1:.2f}x, batch 100 {v100:.2f}x (1 thread: "
          f"{ratio[(1, 1)]:.2f}x, {ratio[(1, 100)]:.2f}x; 2 threads: {ratio[(2, 1)]:.2f}x, "
          f"{ratio[(2, 100)]:.2f}x)")


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
    ap.add_argument("--runs", type=int, default=1,
                    help="independent runs of all rounds; ratios are their median")
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
