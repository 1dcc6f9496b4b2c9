// batched.mjs — batched decoding speed of the prebuilt llama.cpp inside the npm
// package node-llama-cpp (CPU only): the counterpart of
// `sqlassist bench-model -b B1,B2,.. --json` and of llama.cpp's
// `llama-batched-bench -npp P -ntg G -npl B1,B2,..`. Used by bench/batched.sh.
//
//   node batched.mjs --model M.gguf [--threads N] [-p 128] [-n 32] [-b 1,2,4,8] [--reps R]
//
// For each number of parallel sequences B, one context with `sequences: B`
// (each sequence its own P+G+16 cells of KV cache, f16, node-llama-cpp's
// default; flash attention "auto"; batchSize = max(P, B)) is created, and
// each run does:
//   prefill: each of the B sequences gets its own P-token prompt, one sequence
//            after another (one llama_decode of P tokens each, as sqlassist
//            prefills them; llama-batched-bench instead puts all B prompts
//            into one batch), logits of the last prompt token only;
//            prompt tokens/s = B*P / time of all B prefills;
//   decode:  G steps; in each step all B sequences evaluate one token at the
//            same time (Promise.all over LlamaContextSequence.controlledEvaluate),
//            which node-llama-cpp's context batches into ONE llama_decode of B
//            tokens (one per sequence); every row computes logits and samples
//            greedily (temperature 0, an argmax over the vocabulary per row);
//            decode tokens/s = B*G / time of the G steps.
// The tokens fed are fixed pseudo-random ids below 151643 (below the vocabulary
// size and the BOS/EOS ids for a smaller test model; prompts differ per
// sequence; the decode steps feed fixed ids, not the sampled ones, like
// sqlassist's bench-model and llama-batched-bench), so the numbers do not
// depend on what the model generates. Each B runs once as a warm-up (16-token
// prompts, 4 steps), then --reps times; the means are printed as one JSON line
// per B, in the shape `sqlassist bench-model -b .. --json` prints:
//   {"test": "batch", "sequences": B, "prompt": P, "gen": G, "threads": T,
//    "prompt_tokens_per_s": X, "decode_tokens_per_s": Y, "kv_cache_mib": K,
//    "decode_calls": C, "decode_time_in_llama_decode": F}
// kv_cache_mib = the f16 K and V of B*(P+G) tokens (what the run's tokens
// occupy, as sqlassist reports it for its own cache; the allocation is
// node-llama-cpp's padded context size per sequence); decode_calls = the llama_decode
// calls per timed decode phase, counted by wrapping the context's decodeBatch
// (G when the B sequences were batched together; B*G if they were not — then
// a warning goes to stderr and the exit status is 1); decode_time_in_llama_decode
// = the fraction of the decode phase spent waiting for those calls (the rest is
// node-llama-cpp's own work per step: queueing, sampling, promises).
import {getLlama} from "node-llama-cpp";

function usage(msg) {
    if (msg) console.error(`batched.mjs: ${msg}`);
    console.error("usage: node batched.mjs --model M.gguf [--threads N] [-p 128] [-n 32] [-b 1,2,4,8] [--reps R]");
    process.exit(2);
}
const a = {model: null, threads: 2, pp: 128, tg: 32, npl: [1, 2, 4, 8], reps: 3};
const argv = process.argv.slice(2);
const list = (v) => v.split(",").map(Number);
const posInt = (x) => Number.isInteger(x) && x > 0;
for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) usage(`${k} needs a value`);
    if (k === "--model" || k === "-m") a.model = v;
    else if (k === "--threads" || k === "-t") a.threads = Number(v);
    else if (k === "-p" || k === "--prompt" || k === "-npp") a.pp = Number(v);
    else if (k === "-n" || k === "--gen" || k === "-ntg") a.tg = Number(v);
    else if (k === "-b" || k === "--batch" || k === "-npl") a.npl = list(v);
    else if (k === "--reps" || k === "-r") a.reps = Number(v);
    else usage(`unknown argument ${k}`);
}
if (!a.model || ![a.threads, a.pp, a.tg, a.reps].every(posInt) || !a.npl.length || !a.npl.every(posInt)) usage();

const llama = await getLlama({
    gpu: false,
    build: "never",            // never compile llama.cpp
    skipDownload: true,        // never fetch llama.cpp sources
    usePrebuiltBinaries: true,
    maxThreads: a.threads,
    logLevel: "error"
});
const model = await llama.loadModel({modelPath: a.model, gpuLayers: 0});

// token ids below 151643 (Qwen2's first special token), and below the vocabulary and its
// BOS/EOS ids for smaller test models
const nVocab = model.fileInfo.fullTensorInfo?.find((t) => t.name === "token_embd.weight")?.dimensions?.[1] ?? 151643;
const idLimit = Math.min(151643, Number(nVocab), model.tokens.bos ?? Infinity, model.tokens.eos ?? Infinity);
let seed = 12345;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
const maxB = Math.max(...a.npl);
// one P-token prompt per sequence, and the decode tokens of step g, sequence b
const prompts = Array.from({length: maxB}, () => Array.from({length: a.pp}, () => rnd() % idLimit));
const stepToks = Array.from({length: a.tg}, () => Array.from({length: maxB}, () => rnd() % idLimit));
const last = (t) => [t, {generateNext: {token: true, options: {temperature: 0}}}];

// K and V of one token, f16: layers x kv heads x head dim x 2 (K, V) x 2 bytes
const kvBytesPerToken = (() => {
    const md = model.fileInsights.ggufFileInfo?.architectureMetadata ?? {};
    const nl = md.block_count, nh = md.attention?.head_count, nkv = md.attention?.head_count_kv ?? nh;
    const hd = md.attention?.key_length ?? (md.embedding_length && nh ? md.embedding_length / nh : undefined);
    return nl && nkv && hd ? nl * nkv * hd * 2 * 2 : NaN;
})();

let bad = false;
for (const B of a.npl) {
    const context = await model.createContext({
        sequences: B,
        contextSize: a.pp + a.tg + 16,           // per sequence
        batchSize: Math.max(a.pp, B),            // a whole prompt, or one token of every sequence, per llama_decode
        threads: {ideal: a.threads, min: a.threads},
        batching: {dispatchSchedule: "nextCycle", itemPrioritizationStrategy: "maximumParallelism"}
    });
    if (B === a.npl[0])
        console.error(`llama.cpp (node-llama-cpp ${llama.buildType}, ${JSON.stringify(llama.llamaCppRelease)}): ` +
                      `threads=${a.threads} flashAttention=${context.flashAttention} ` +
                      `kv type=${context.kvCacheKeyType ?? "default"} (ggml type id; 1 = f16) ${llama.systemInfo}`);
    // count llama_decode calls (and their tokens) by wrapping the native context's batch calls
    // (the native object's methods are read-only: a proxy in its place forwards everything else)
    const ctx = context._ctx;
    let calls = 0, batchTokens = 0, maxBatchTokens = 0, inDecode = 0;
    context._ctx = new Proxy(ctx, {
        get(target, prop) {
            if (prop === "initBatch") return (n) => { batchTokens = n; return target.initBatch(n); };
            if (prop === "decodeBatch")
                return () => {
                    calls++;
                    maxBatchTokens = Math.max(maxBatchTokens, batchTokens);
                    const t = performance.now();
                    return target.decodeBatch().finally(() => { inDecode += performance.now() - t; });
                };
            const v = Reflect.get(target, prop, target);
            return typeof v === "function" ? v.bind(target) : v;
        }
    });
    if (context._ctx === ctx) throw new Error("cannot count llama_decode calls (context._ctx is not replaceable)");

    const seqs = Array.from({length: B}, () => context.getSequence());
    const runOnce = async (np, ng) => {
        for (const s of seqs) await s.clearHistory();
        const t0 = performance.now();
        for (let b = 0; b < B; b++) {
            const p = prompts[b];
            await seqs[b].controlledEvaluate(p.slice(0, np - 1).concat([last(p[np - 1])]));
        }
        const t1 = performance.now();
        calls = 0; maxBatchTokens = 0; inDecode = 0;
        for (let g = 0; g < ng; g++)
            await Promise.all(seqs.map((s, b) => s.controlledEvaluate([last(stepToks[g][b])])));
        const t2 = performance.now();
        return {pp: (t1 - t0) / 1000, tg: (t2 - t1) / 1000, calls, maxBatchTokens, inDecode: inDecode / (t2 - t1)};
    };

    await runOnce(Math.min(16, a.pp), Math.min(4, a.tg));   // warm-up
    let ppSum = 0, tgSum = 0, callSum = 0, maxTok = 0, inDecodeSum = 0;
    for (let r = 0; r < a.reps; r++) {
        const t = await runOnce(a.pp, a.tg);
        ppSum += B * a.pp / t.pp;
        tgSum += B * a.tg / t.tg;
        callSum += t.calls;
        inDecodeSum += t.inDecode;
        maxTok = Math.max(maxTok, t.maxBatchTokens);
    }
    const decodeCalls = callSum / a.reps;
    if (decodeCalls !== a.tg || maxTok !== B) {
        bad = true;
        console.error(`batched.mjs: B=${B}: the decode phase made ${decodeCalls} llama_decode calls of up to ` +
                      `${maxTok} tokens (expected ${a.tg} calls of ${B}): the sequences were not batched together`);
    }
    console.log(JSON.stringify({
        test: "batch", sequences: B, prompt: a.pp, gen: a.tg, threads: a.threads,
        prompt_tokens_per_s: Number((ppSum / a.reps).toFixed(3)),
        decode_tokens_per_s: Number((tgSum / a.reps).toFixed(3)),
        kv_cache_mib: Number((B * (a.pp + a.tg) * kvBytesPerToken / 1048576).toFixed(2)),
        decode_calls: decodeCalls,
        decode_time_in_llama_decode: Number((inDecodeSum / a.reps).toFixed(3))
    }));
    for (const s of seqs) s.dispose();
    await context.dispose();
}
await model.dispose();
await llama.dispose();
process.exit(bad ? 1 : 0);
