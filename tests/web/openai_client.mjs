// openai_client.mjs — checks that the official `openai` npm client works
// against `sqlassist serve`: models.list, chat.completions.create plain and
// streamed (with usage), stop strings, errors surfacing as the client's own
// error classes (unknown model 404, wrong key 401), an adapter as the model.
//
//   node openai_client.mjs BASE_URL API_KEY [ADAPTER]
//
// Prints PASS/FAIL lines; exits 1 when any check fails.
import OpenAI from "openai";

const [, , baseURL, apiKey, adapter] = process.argv;
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("PASS " + name);
  else { failed++; console.log("FAIL " + name + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });

const models = [];
for await (const m of client.models.list()) models.push(m);
const base = models[0] && models[0].id;
check("models.list", models.length >= 1 && models.every((m) => m.object === "model" && m.owned_by === "sqlassist"), models);

const messages = [{ role: "system", content: "Answer briefly." }, { role: "user", content: "Say hello." }];
const plain = await client.chat.completions.create({ model: base, messages, max_tokens: 8, temperature: 0 });
const choice = plain.choices[0];
check("chat.completions.create", plain.object === "chat.completion" && plain.model === base && choice.message.role === "assistant"
  && typeof choice.message.content === "string" && ["stop", "length"].includes(choice.finish_reason), plain);
check("usage adds up", plain.usage.prompt_tokens > 0 && plain.usage.completion_tokens <= 8
  && plain.usage.total_tokens === plain.usage.prompt_tokens + plain.usage.completion_tokens, plain.usage);

const stream = await client.chat.completions.create({ model: base, messages, max_tokens: 8, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
let text = "", finish = null, usage = null, chunks = 0, role = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check("streamed chunks", chunks >= 3 && role === "assistant" && finish === choice.finish_reason, { chunks, role, finish });
check("streamed text equals the plain reply (greedy)", text === choice.message.content, { text, plain: choice.message.content });
check("streamed usage", usage && usage.completion_tokens === plain.usage.completion_tokens, usage);

if (text.length > 4) {
  const stop = text.slice(2, 4);
  const cut = await client.chat.completions.create({ model: base, messages, max_tokens: 8, temperature: 0, stop: [stop] });
  check("stop honoured", cut.choices[0].message.content === text.slice(0, text.indexOf(stop)) && cut.choices[0].finish_reason === "stop",
    cut.choices[0]);
}
const one = await client.chat.completions.create({ model: base, messages, max_tokens: 1, temperature: 0.7, seed: 5 });
check("max_tokens honoured", one.usage.completion_tokens <= 1 && one.choices[0].finish_reason !== null, one.usage);

try {
  await client.chat.completions.create({ model: "no-such-model", messages, max_tokens: 1 });
  check("unknown model raises", false);
} catch (e) {
  check("unknown model raises NotFoundError", e instanceof OpenAI.NotFoundError && e.status === 404 && /no-such-model/.test(e.message), e.message);
}
try {
  await client.chat.completions.create({ model: base, messages: [], max_tokens: 1 });
  check("empty messages raise", false);
} catch (e) {
  check("empty messages raise BadRequestError", e instanceof OpenAI.BadRequestError && e.status === 400 && /messages/.test(e.message), e.message);
}
if (apiKey !== "none") {
  const wrong = new OpenAI({ baseURL, apiKey: "wrong-key", maxRetries: 0 });
  try {
    await wrong.models.list();
    check("wrong key raises", false);
  } catch (e) {
    check("wrong key raises AuthenticationError", e instanceof OpenAI.AuthenticationError && e.status === 401, e.message);
  }
}
if (adapter) {
  check("adapter listed as a model", models.some((m) => m.id === adapter), models.map((m) => m.id));
  const a = await client.chat.completions.create({ model: adapter, messages, max_tokens: 8, temperature: 0 });
  check("adapter as the model", a.model === adapter && a.choices[0].message.content !== choice.message.content,
    [a.choices[0].message.content, choice.message.content]);
}
process.exit(failed ? 1 : 0);
