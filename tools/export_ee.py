#!/usr/bin/python3
"""export_ee.py - turns a PyTorch early-exit network into serflow's model format: one ONNX graph
per stage (the stage body plus its exit head) and a model.json manifest (docs/model.md).

The interface a network must offer (either form):
  1. two lists of the same length K >= 1 (plain lists or nn.ModuleList):
       stages[k]: nn.Module, takes the previous stage's output (stages[0]: the input
                  [N, C, H, W]) and returns ONE tensor, the hidden state of stage k+1;
       exits[k]:  nn.Module, takes stages[k]'s output and returns the logits [N, classes].
     exits[K-1] is the final classifier; the last stage's hidden state is not an output.
  2. a module with attributes `stages` and `exits` holding such lists (export_module).
Residual blocks, downsampling shortcuts and anything else live inside a stage: only the
tensor passed from one stage to the next crosses a stage boundary, so a stage must end where
the network has a single live activation (after a block, not between a block's branches).

The exported graph of stage k has input "x" and outputs "hidden" (absent for the last stage)
and "logits"; the batch dimension is dynamic. BatchNormalization is kept as a node (the serflow
loader folds it into the Conv before it). What the exporter leaves computed from constants
(padding lists of ZeroPad2d, `1 - alpha`, the Shape/Gather/Concat chain of
x.view(x.size(0), -1)) is folded into initializers here; a Reshape target that depends on the
batch size only through its first entry becomes [0, ...] (keep the batch dimension). Operators serflow
runs: docs/model.md ("Bring your own model").

Library use:
    import export_ee
    export_ee.export(stages, exits, "models/mine", name="mine", input_shape=[1, 28, 28],
                     labels=[...], mean=[0.286], std=[0.353], golden_x=x16)
Command line (the factory returns the network, in eval mode or not; weights optional):
    /usr/bin/python3 tools/export_ee.py --module path/to/net.py:build --input-shape 1,28,28 \\
        --labels labels.txt --mean 0.286 --std 0.353 [--weights state_dict.pt] --out DIR
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

FORMAT = "serflow-ee-onnx/1"
OPSET = 13
N_GOLDEN = 16


class _StageGraph(nn.Module):
    """Stage body plus exit head as one graph: x -> (hidden, logits) or logits (last)."""

    def __init__(self, body, head, last):
        super().__init__()
        self.body = body
        self.head = head
        self.last = last

    def forward(self, x):
        h = self.body(x)
        logits = self.head(h)
        if self.last:
            return logits
        return h, logits


# The dynamic batch size inside the constant folder: a value no real dimension takes.
_BATCH = -(1 << 40)


def _attr(n, name, dflt=None):
    import onnx
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return dflt


def _eval_node(n, ins, shapes):
    """numpy value of node n's first output from its constant inputs (None for an omitted
    optional input), or None when the folder does not know the operator."""
    from onnx import numpy_helper
    t = n.op_type
    if t == "Constant":
        v = _attr(n, "value")
        return None if v is None else numpy_helper.to_array(v)
    if t == "Shape":
        if n.input[0] not in shapes:
            return None
        dims = np.array(shapes[n.input[0]], dtype=np.int64)
        return dims[_attr(n, "start", 0):_attr(n, "end", None)]
    if any(v is None for v in ins[:1]):
        return None
    x = ins[0]
    if t == "ConstantOfShape":
        v = _attr(n, "value")
        fill = numpy_helper.to_array(v).reshape(-1) if v is not None else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in x), fill[0], dtype=fill.dtype)
    if t in ("Identity", "Cast"):
        if t == "Cast":
            import onnx
            return x.astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[_attr(n, "to")])
        return x
    if t == "Concat":
        if any(v is None for v in ins):
            return None
        return np.concatenate([np.atleast_1d(v) for v in ins], axis=_attr(n, "axis", 0))
    if t == "Reshape" and ins[1] is not None and _BATCH not in x:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(ins[1].tolist())]
        return x.reshape(shape)
    if t == "Transpose":
        return np.transpose(x, _attr(n, "perm"))
    if t == "Gather" and ins[1] is not None:
        return np.take(x, ins[1], axis=_attr(n, "axis", 0))
    if t == "Unsqueeze":
        axes = ins[1] if len(ins) > 1 and ins[1] is not None else _attr(n, "axes")
        for a in sorted(int(v) for v in axes):
            x = np.expand_dims(x, a)
        return x
    if t == "Squeeze":
        axes = ins[1] if len(ins) > 1 and ins[1] is not None else _attr(n, "axes")
        return np.squeeze(x, tuple(int(v) for v in axes)) if axes is not None else np.squeeze(x)
    if t == "Slice" and all(v is not None for v in ins[1:3]):
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(ins[1]))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(ins[1])
        sl = [slice(None)] * x.ndim
        for a, b, e, st in zip(axes, ins[1], ins[2], steps):
            sl[int(a)] = slice(int(b), int(e), int(st))
        return x[tuple(sl)]
    if t in ("Add", "Sub", "Mul", "Div") and ins[1] is not None and _BATCH not in x \
            and _BATCH not in ins[1]:
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[t]
        r = f(x, ins[1])
        return r.astype(x.dtype) if x.dtype.kind != "i" or t != "Div" else x // ins[1]
    return None


def _fold_constants(path):
    """Folds what PyTorch's exporter leaves computed from constants (padding lists built with
    ConstantOfShape/Slice/Transpose, `1 - alpha`, Shape/Gather/Concat chains for
    x.view(x.size(0), -1)) into initializers; a Reshape target that depends on the batch size
    only through its first entry becomes a constant [0, ...] (keep the batch dimension). Nodes
    nothing reads any more are dropped."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    g = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for vi in (list(inferred.graph.value_info) + list(inferred.graph.input)
               + list(inferred.graph.output)):
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else _BATCH
                           for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: i for i in g.initializer}
    vals = {}

    def val(name):
        if not name:
            return None
        if name not in vals and name in inits:
            vals[name] = numpy_helper.to_array(inits[name])
        return vals.get(name)

    folded = []
    for n in g.node:
        ins = [val(i) for i in n.input]
        if any(i and v is None for i, v in zip(n.input, ins)) and n.op_type != "Shape":
            continue
        v = _eval_node(n, ins, shapes)
        if v is None or len(n.output) != 1:
            continue
        vals[n.output[0]] = np.asarray(v)
        folded.append(n)
    changed = False
    for n in g.node:
        if n.op_type == "Reshape" and n in folded:
            continue
        for k, name in enumerate(n.input):
            if name in inits or name not in vals or not any(name in f.output for f in folded):
                continue
            v = vals[name]
            if n.op_type == "Reshape" and k == 1 and v.ndim == 1 and _BATCH in v:
                if _BATCH in v[1:]:
                    raise SystemExit(f"export_ee: {path}: node '{n.name}' (Reshape): its target "
                                     "shape mixes the batch size into other dimensions; keep the "
                                     "batch first: x.view(x.size(0), -1) or torch.flatten(x, 1)")
                v = v.copy()
                v[0] = 0
            elif _BATCH in v:
                continue
            new = name + "_folded"
            g.initializer.append(numpy_helper.from_array(v, new))
            inits[new] = g.initializer[-1]
            n.input[k] = new
            changed = True
    if not changed:
        return
    while True:  # drop nodes whose outputs nothing reads
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export(stages, exits, out, *, name, input_shape, labels, mean, std, golden_x=None,
           golden_labels=None, accuracy=None, training=None, note=None, opset=OPSET):
    """Writes stage1.onnx .. stageK.onnx, model.json and (with golden_x, [n, *input_shape]
    normalised inputs) golden_input.f32 and golden_logits.f32 [K, n, classes] into out.
    Returns the manifest (a dict)."""
    stages, exits = list(stages), list(exits)
    if not stages or len(stages) != len(exits):
        raise ValueError("export_ee: stages and exits must be non-empty lists of equal length")
    for m in stages + exits:
        m.eval()
    os.makedirs(out, exist_ok=True)
    x = torch.zeros([2] + list(input_shape))
    files = []
    shape = list(input_shape)
    golden = None if golden_x is None else golden_x.float()
    golden_logits = []
    with torch.no_grad():
        for k, (body, head) in enumerate(zip(stages, exits)):
            last = k == len(stages) - 1
            h = body(x)
            logits = head(h)
            if logits.dim() != 2 or logits.shape[1] != len(labels):
                raise ValueError(f"export_ee: exit {k + 1} returns {tuple(logits.shape)}, "
                                 f"expected [N, {len(labels)}]")
            g = _StageGraph(body, head, last).eval()
            fname = f"stage{k + 1}.onnx"
            outputs = ["logits"] if last else ["hidden", "logits"]
            dyn = {"x": {0: "N"}}
            for o in outputs:
                dyn[o] = {0: "N"}
            # PRESERVE with modules in eval mode keeps BatchNormalization as a node (EVAL
            # would fold it in Python); constant folding still folds constant subexpressions.
            path = os.path.join(out, fname)
            torch.onnx.export(g, x, path, input_names=["x"], output_names=outputs,
                              dynamic_axes=dyn, opset_version=opset, do_constant_folding=True,
                              training=torch.onnx.TrainingMode.PRESERVE)
            _fold_constants(path)
            hidden_shape = None if last else list(h.shape[1:])
            entry = {"file": fname, "input_shape": shape, "hidden_shape": hidden_shape,
                     "outputs": outputs}
            if accuracy is not None:
                entry["classifier_test_accuracy"] = round(float(accuracy[k]), 4)
            files.append(entry)
            if golden is not None:
                golden = body(golden)
                golden_logits.append(head(golden).numpy())
            x = h
            if hidden_shape is not None:
                shape = hidden_shape
    manifest = {
        "name": name,
        "format": FORMAT,
        "input": {"name": "x", "shape": list(input_shape), "dtype": "float32",
                  "layout": "NCHW"},
        "normalization": {"mean": list(mean), "std": list(std),
                          "note": note or "x = (pixel / 255 - mean) / std, applied by the caller"},
        "labels": list(labels),
        "num_classes": len(labels),
        "stages": files,
    }
    if training is not None:
        manifest["training"] = training
    if golden_x is not None:
        n = int(golden_x.shape[0])
        golden_x.float().numpy().astype("<f4").tofile(os.path.join(out, "golden_input.f32"))
        np.stack(golden_logits).astype("<f4").tofile(os.path.join(out, "golden_logits.f32"))
        manifest["golden"] = {"count": n, "input_file": "golden_input.f32",
                              "logits_file": "golden_logits.f32"}
        if golden_labels is not None:
            manifest["golden"]["labels"] = [int(v) for v in golden_labels]
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def export_module(model, out, **kw):
    """export() for a module with attributes `stages` and `exits`."""
    if not hasattr(model, "stages") or not hasattr(model, "exits"):
        raise ValueError("export_ee: the module needs attributes `stages` and `exits`")
    return export(model.stages, model.exits, out, **kw)


def _load_factory(spec):
    path, _, fn = spec.rpartition(":")
    if not path or not fn:
        raise SystemExit("export_ee: --module wants FILE.py:FUNCTION")
    s = importlib.util.spec_from_file_location("ee_user_module", path)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return getattr(mod, fn)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--module", required=True,
                    help="FILE.py:FUNCTION returning a module with `stages` and `exits`")
    ap.add_argument("--weights", help="a state_dict saved with torch.save, loaded first")
    ap.add_argument("--input-shape", required=True, help="C,H,W of one request")
    ap.add_argument("--labels", required=True,
                    help="a file with one label per line, or a number of classes")
    ap.add_argument("--mean", type=float, required=True)
    ap.add_argument("--std", type=float, required=True)
    ap.add_argument("--name", help="model name (default: the output directory's name)")
    ap.add_argument("--golden-seed", type=int, default=0,
                    help="golden inputs: 16 standard-normal requests from this seed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    model = _load_factory(args.module)()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    shape = [int(v) for v in args.input_shape.split(",")]
    if args.labels.isdigit():
        labels = [str(i) for i in range(int(args.labels))]
    else:
        with open(args.labels) as f:
            labels = [ln.strip() for ln in f if ln.strip()]
    g = torch.Generator().manual_seed(args.golden_seed)
    gx = torch.randn([N_GOLDEN] + shape, generator=g)
    export_module(model, args.out, name=args.name or os.path.basename(os.path.normpath(args.out)),
                  input_shape=shape, labels=labels, mean=[args.mean], std=[args.std],
                  golden_x=gx)
    print(f"export_ee: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
