// llama_probs.mjs — the llama.cpp oracle for tests/test_llamacpp.sh: runs GGUF
// files through the prebuilt llama.cpp inside the npm package node-llama-cpp
// (CPU only; nothing is downloaded or built at run time) and writes what it
// computes for a fixed token sequence.
//
//   node llama_probs.mjs --tokens "ID ID ..." --vocab V [--greedy N]
//        [--threads T] [--kv f32|f16] [--fa on|off|auto]
//        --model A.gguf [--probs-out A.probs] [--greedy-out A.ids]
//        [--model B.gguf ...]
//
// Each --model starts a job; --probs-out / --greedy-out after it belong to it.
// All jobs run in one process (node-llama-cpp's start-up is paid once).
//
// --probs-out FILE  next-token probabilities after every input token, as
//                   little-endian float32 [n_tokens][V] (0 for tokens that
//                   llama.cpp's sampler chain did not return). They come from
//                   sequence.controlledEvaluate() with generateNext
//                   {probabilities: true} and the sampler options
//                   temperature 1, topK 0, topP 1, minP 0: node-llama-cpp
//                   maps topK <= 0 to top_k(n_vocab) (no truncation), top_p(1)
//                   returns early and min_p 0 is not added to the chain, so
//                   this is the plain softmax of llama.cpp's logits. The
//                   number of entries per map is checked and printed.
// --greedy-out FILE the N (--greedy) tokens llama.cpp generates greedily
//                   (temperature 0 = llama.cpp's greedy sampler) after the
//                   input, space-separated. Uses controlledEvaluate() one
//                   token at a time; sequence.evaluate(tokens, {temperature:
//                   0}) gives the same ids but is ~4x slower here.
// --kv f32|f16      KV cache type (default f32; llama.cpp's own default is f16).
// --fa on|off|auto  flash attention (default off). llama.cpp's CPU flash
//                   attention works in f16 whatever --kv says, so the exact
//                   f32 reference is --kv f32 --fa off (the defaults here).
// Prints "SYSTEM ..." (llama.cpp build), and per job "JOB model entries=MIN..MAX".
import fs from "node:fs";
import {getLlama} from "node-llama-cpp";

function usage(msg) {
    if (msg) console.error(`llama_probs.mjs: ${msg}`);
    console.error("usage: node llama_probs.mjs --tokens \"ID ...\" --vocab V [--greedy N] [--threads T] " +
                  "[--kv f32|f16] [--fa on|off|auto] --model M.gguf [--probs-out F] [--greedy-out F] ...");
    process.exit(2);
}

function parseArgs(argv) {
    const a = {threads: 2, kv: "f32", fa: false, greedy: 64, tokens: null, vocab: 0, jobs: []};
    const cur = () => a.jobs.length ? a.jobs[a.jobs.length - 1] : usage(`${argv[0]} before --model`);
    for (let i = 0; i < argv.length; i += 2) {
        const k = argv[i], v = argv[i + 1];
        if (v === undefined) usage(`${k} needs a value`);
        switch (k) {
            case "--tokens": a.tokens = v.trim().split(/\s+/).map(Number); break;
            case "--vocab": a.vocab = Number(v); break;
            case "--greedy": a.greedy = Number(v); break;
            case "--threads": a.threads = Number(v); break;
            case "--kv": a.kv = v; break;
            case "--fa": a.fa = v === "auto" ? "auto" : v === "on"; break;
            case "--model": a.jobs.push({model: v, probsOut: null, greedyOut: null}); break;
            case "--probs-out": cur().probsOut = v; break;
            case "--greedy-out": cur().greedyOut = v; break;
            default: usage(`unknown argument ${k}`);
        }
    }
    if (!a.tokens || a.tokens.some((t) => !Number.isInteger(t)) || !(a.vocab > 0) || a.jobs.length === 0)
        usage("--tokens, --vocab and --model are required");
    return a;
}

const a = parseArgs(process.argv.slice(2));
const llama = await getLlama({
    gpu: false,
    build: "never",            // never compile llama.cpp
    skipDownload: true,        // never fetch llama.cpp sources
    usePrebuiltBinaries: true,
    maxThreads: a.threads,
    logLevel: "error"
});
console.log(`SYSTEM node-llama-cpp buildType=${llama.buildType} llama.cpp=${JSON.stringify(llama.llamaCppRelease)} ` +
            `${llama.systemInfo}`);

const kvType = a.kv.toUpperCase();
const n = a.tokens.length;
const greedyStep = (t) => [t, {generateNext: {token: true, options: {temperature: 0}}}];

for (const job of a.jobs) {
    const model = await llama.loadModel({modelPath: job.model, gpuLayers: 0});
    const context = await model.createContext({
        contextSize: Math.max(256, n + a.greedy + 8),
        batchSize: Math.max(256, n),
        threads: a.threads,
        flashAttention: a.fa,
        experimentalKvCacheKeyType: kvType,
        experimentalKvCacheValueType: kvType
    });
    const seq = context.getSequence();
    let info = "";

    if (job.probsOut) {
        const gen = {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1}};
        const res = await seq.controlledEvaluate(a.tokens.map((t) => [t, {generateNext: gen}]));
        const out = new Float32Array(n * a.vocab);
        let minE = Infinity, maxE = 0;
        for (let i = 0; i < n; i++) {
            const probs = res[i]?.next?.probabilities;
            if (probs == null) throw new Error(`${job.model}: no probabilities for position ${i}`);
            minE = Math.min(minE, probs.size);
            maxE = Math.max(maxE, probs.size);
            const row = i * a.vocab;
            for (const [tok, p] of probs) {
                if (!(tok >= 0 && tok < a.vocab)) throw new Error(`${job.model}: token id ${tok} out of range`);
                out[row + tok] = p;
            }
        }
        fs.writeFileSync(job.probsOut, Buffer.from(out.buffer));
        info += ` entries=${minE}..${maxE}`;
        await seq.clearHistory();
    }

    if (job.greedyOut && a.greedy > 0) {
        const ids = [];
        let items = a.tokens.slice(0, -1).concat([greedyStep(a.tokens[n - 1])]);
        while (ids.length < a.greedy) {
            const res = await seq.controlledEvaluate(items);
            const tok = res[res.length - 1]?.next?.token;
            if (tok == null) break;    // no token (should not happen with the greedy sampler)
            ids.push(tok);
            items = [greedyStep(tok)];
        }
        fs.writeFileSync(job.greedyOut, ids.join(" ") + "\n");
        info += ` greedy=${ids.length}`;
    }

    console.log(`JOB ${job.model}${info}`);
    await context.dispose();
    await model.dispose();
}
await llama.dispose();
