// nn_ort.js - onnxruntime (npm onnxruntime-node, CPU execution provider) as a peer worker for
// bench/nn_vs_peers.sh, speaking bench/nn_peers.py's line protocol ("check", "run T B R",
// "quit") on stdin/stdout, on the same ONNX stage files as every other runtime.
//
//   node bench/nn_ort.js NODE_MODULES_DIR [MODEL_DIR]
//
// One InferenceSession per stage and thread count: intra-op threads T, inter-op 1, sequential
// execution, all graph optimisations, and allow_spinning 0 (spinning intra-op threads collapse
// on 2 shared cores). Stages are chained: stage k's "hidden" feeds stage k+1's "x".
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const modules = path.resolve(process.argv[2]);
const modelDir = process.argv[3] || path.join(__dirname, '..', 'models', 'fmnist-ee');
const ort = require(path.join(modules, 'onnxruntime-node'));
const WARMUP = 5;

const stageFiles = [];
for (let k = 1; fs.existsSync(path.join(modelDir, `stage${k}.onnx`)); k++)
  stageFiles.push(path.join(modelDir, `stage${k}.onnx`));
const golden = (() => {
  const b = fs.readFileSync(path.join(modelDir, 'golden_input.f32'));
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
})();
const IMG = 28 * 28;

const sessions = new Map(); // threads -> [session per stage]
async function stagesFor(threads) {
  if (!sessions.has(threads)) {
    const opts = {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: {session: {intra_op: {allow_spinning: '0'}, inter_op: {allow_spinning: '0'}}},
    };
    const s = [];
    for (const f of stageFiles) s.push(await ort.InferenceSession.create(f, opts));
    sessions.set(threads, s);
  }
  return sessions.get(threads);
}

function batchOf(b) {
  const n = golden.length / IMG;
  const x = new Float32Array(b * IMG);
  for (let i = 0; i < b; i++) x.set(golden.subarray((i % n) * IMG, (i % n + 1) * IMG), i * IMG);
  return new ort.Tensor('float32', x, [b, 1, 28, 28]);
}

async function forward(x, threads) {
  const st = await stagesFor(threads);
  const logits = [];
  let h = x;
  for (let k = 0; k < st.length; k++) {
    const out = await st[k].run({x: h});
    logits.push(out.logits);
    if (k < st.length - 1) h = out.hidden;
  }
  return logits;
}

async function main() {
  const rl = readline.createInterface({input: process.stdin});
  const seen = new Set();
  for await (const line of rl) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'quit') break;
    if (w[0] === 'check') {
      const outs = await forward(batchOf(golden.length / IMG), 1);
      const v = [];
      for (const o of outs) for (const f of o.data) v.push(f.toPrecision(7));
      process.stdout.write('logits ' + v.join(' ') + '\n');
    } else if (w[0] === 'run' && w.length === 4) {
      const [t, b, r] = w.slice(1).map(Number);
      const x = batchOf(b);
      if (!seen.has(`${t}/${b}`)) {
        for (let i = 0; i < WARMUP; i++) await forward(x, t);
        seen.add(`${t}/${b}`);
      }
      const times = [];
      for (let i = 0; i < r; i++) {
        const t0 = process.hrtime.bigint();
        await forward(x, t);
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      }
      process.stdout.write('times ' + times.map((s) => s.toFixed(7)).join(' ') + '\n');
    } else {
      process.stdout.write(`error unknown command ${line.trim()}\n`);
    }
  }
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`nn_ort: ${e.stack || e}\n`);
  process.exit(1);
});
