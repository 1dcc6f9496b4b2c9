// bench.mjs — prompt-processing and generation speed of the prebuilt llama.cpp
// inside the npm package node-llama-cpp (CPU only), measured the way
// `sqlassist bench-model` and llama-bench measure: ppN = N prompt tokens as
// one batch into an empty sequence (logits of the last token only), tgN = N
// single-token decode steps from an empty sequence. Each test runs once as a
// warm-up (16 tokens), then --reps times; the mean and standard deviation of
// tokens/s are printed as JSON lines, as `sqlassist bench-model --json` does:
//   {"test": "pp128", "threads": 2, "tokens_per_s": X, "stddev": S}
// Used by bench/speed.sh.
//
//   node bench.mjs --model M.gguf [--threads N] [-p 128,512] [-n 64] [--reps R]
//
// The token ids are fixed pseudo-random ids below 151643 (as llama-bench uses
// random tokens). Each step samples greedily (temperature 0) from the logits,
// which costs an argmax over the vocabulary. The context uses node-llama-cpp's
// defaults (KV cache f16, flash attention "auto"), printed on stderr.
import {getLlama} from "node-llama-cpp";

function usage(msg) {
    if (msg) console.error(`bench.mjs: ${msg}`);
    console.error("usage: node bench.mjs --model M.gguf [--threads N] [-p 128,512] [-n 64] [--reps R]");
    process.exit(2);
}
const a = {model: null, threads: 2, pp: [128, 512], tg: [64], reps: 3};
const argv = process.argv.slice(2);
const list = (v) => v.split(",").map(Number).filter((x) => Number.isInteger(x) && x > 0);
for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) usage(`${k} needs a value`);
    if (k === "--model" || k === "-m") a.model = v;
    else if (k === "--threads" || k === "-t") a.threads = Number(v);
    else if (k === "-p" || k === "--prompt") a.pp = list(v);
    else if (k === "-n" || k === "--gen") a.tg = list(v);
    else if (k === "--reps" || k === "-r") a.reps = Number(v);
    else usage(`unknown argument ${k}`);
}
if (!a.model || !(a.threads >= 1) || !(a.reps >= 1)) usage();

const llama = await getLlama({
    gpu: false,
    build: "never",            // never compile llama.cpp
    skipDownload: true,        // never fetch llama.cpp sources
    usePrebuiltBinaries: true,
    maxThreads: a.threads,
    logLevel: "error"
});
const maxPP = Math.max(16, ...a.pp), maxTG = Math.max(16, ...a.tg);
const model = await llama.loadModel({modelPath: a.model, gpuLayers: 0});
const context = await model.createContext({
    contextSize: maxPP + maxTG + 16,
    batchSize: maxPP,          // one batch (n_batch = n_ubatch) for the whole prompt
    threads: {ideal: a.threads, min: a.threads}
});
const seq = context.getSequence();
console.error(`llama.cpp (node-llama-cpp ${llama.buildType}, ${JSON.stringify(llama.llamaCppRelease)}): ` +
              `threads=${a.threads} flashAttention=${context.flashAttention} ` +
              `kv=${context.kvCacheKeyType ?? "default"} ${llama.systemInfo}`);

let seed = 12345;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
const toks = Array.from({length: Math.max(maxPP, maxTG)}, () => rnd() % 151643);
const last = (t) => [t, {generateNext: {token: true, options: {temperature: 0}}}];

async function runOnce(n, isPP) {
    await seq.clearHistory();
    const t0 = performance.now();
    if (isPP) {
        await seq.controlledEvaluate(toks.slice(0, n - 1).concat([last(toks[n - 1])]));
    } else {
        for (let i = 0; i < n; i++) await seq.controlledEvaluate([last(toks[i])]);
    }
    return (performance.now() - t0) / 1000;
}

for (const [isPP, sizes] of [[true, a.pp], [false, a.tg]]) {
    for (const n of sizes) {
        await runOnce(Math.min(n, 16), isPP);            // warm-up
        const tps = [];
        for (let r = 0; r < a.reps; r++) tps.push(n / await runOnce(n, isPP));
        const mean = tps.reduce((x, y) => x + y, 0) / tps.length;
        const sd = tps.length > 1
            ? Math.sqrt(tps.reduce((s, x) => s + (x - mean) ** 2, 0) / (tps.length - 1)) : 0;
        console.log(JSON.stringify({test: `${isPP ? "pp" : "tg"}${n}`, threads: a.threads,
                                    tokens_per_s: Number(mean.toFixed(3)), stddev: Number(sd.toFixed(3))}));
    }
}
await context.dispose();
await model.dispose();
await llama.dispose();
