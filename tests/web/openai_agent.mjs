// openai_agent.mjs — the SQL agent behind the OpenAI-compatible API, through
// the official `openai` npm client, on examples/shop.sqlite with the bundled
// model: `sql-agent` listed and retrievable, its reply (SQL in a ```sql block,
// rows as a Markdown table of at most 50 rows and a line saying how many
// more) plain and streamed, an honest reply when no attempt runs, follow-ups,
// bad requests as the client's error classes, and the raw model prompted in
// the model file's own format.
//
//   node openai_agent.mjs BASE_URL FAILING_BASE_URL MANY_BASE_URL OUTDIR
//
// FAILING_BASE_URL is a server whose attempts cannot run (two tokens each);
// MANY_BASE_URL one whose template starts every reply with
// "SELECT email FROM customers" and lets the model add one token (the
// grammar then only lets it end the statement): a reply of 650 rows whatever
// the model;
// the replies of the one-value and many-rows questions go to
// OUTDIR/reply-one.md and reply-many.md, where the shell test compares their
// tables with sqlite3. Prints PASS/FAIL lines; exits 1 when any check fails.
import OpenAI from "openai";
import { writeFileSync } from "node:fs";

const [, , baseURL, failingURL, manyURL, outDir] = process.argv;
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("PASS " + name);
  else { failed++; console.log("FAIL " + name + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}
async function raises(name, f, cls, status, re) {
  try { await f(); check(name, false, "no error"); }
  catch (e) { check(name, e instanceof cls && e.status === status && (!re || re.test(e.message)), [e.status, e.message]); }
}

const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0, timeout: 120000 });
const ask = (messages, extra) => client.chat.completions.create(Object.assign({ model: "sql-agent", messages }, extra || {}));
const user = (content) => ({ role: "user", content });

// models
const models = [];
for await (const m of client.models.list()) models.push(m);
const base = models[0].id;
check("sql-agent listed in /v1/models", models.some((m) => m.id === "sql-agent" && m.object === "model"), models);
const got = await client.models.retrieve("sql-agent");
check("models.retrieve('sql-agent')", got.id === "sql-agent" && got.object === "model" && got.owned_by === "sqlassist", got);
const gotBase = await client.models.retrieve(base);
check("models.retrieve(base)", gotBase.id === base, gotBase);
await raises("models.retrieve(unknown) raises NotFoundError", () => client.models.retrieve("no-such-model"), OpenAI.NotFoundError, 404, /no-such-model/);

// one value
const q1 = "What is the highest unit price of the products?";
const one = await ask([user(q1)]);
const c1 = one.choices[0].message.content;
writeFileSync(outDir + "/reply-one.md", c1);
check("agent reply: SQL in a ```sql block", /^```sql\nSELECT [^\n]+\n```\n/.test(c1), c1);
check("agent reply: the one value as a Markdown table, the number right-aligned", /\n\| [^\n]+ \|\n\| ---: \|\n\| [0-9.]+ \|\n/.test(c1), c1);
check("agent reply: model, finish_reason, usage", one.model === "sql-agent" && one.choices[0].finish_reason === "stop"
  && one.usage.prompt_tokens > 0 && one.usage.completion_tokens > 0, one);

// streamed: same text
const stream = await ask([user(q1)], { stream: true, stream_options: { include_usage: true } });
let text = "", chunks = 0, role = null, finish = null, usage = null;
for await (const ch of stream) {
  chunks++;
  if (ch.usage) usage = ch.usage;
  for (const c of ch.choices) {
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check("agent streamed: same content as plain", text === c1, { text, c1 });
check("agent streamed: role, finish, usage", role === "assistant" && finish === "stop" && chunks >= 4
  && usage && usage.completion_tokens === one.usage.completion_tokens, { role, finish, chunks, usage });

// many rows: the first 50, then how many more
const manyClient = new OpenAI({ baseURL: manyURL, apiKey: "none", maxRetries: 0, timeout: 120000 });
const many = (await manyClient.chat.completions.create({ model: "sql-agent", messages: [user("List the emails of all customers.")] }))
  .choices[0].message.content;
writeFileSync(outDir + "/reply-many.md", many);
const rows = many.split("\n").filter((l) => l.startsWith("| ")).slice(2);   // past the header and its rule
const more = many.match(/and (\d+) more rows \((\d+) in all\)/);
check("agent table: 50 rows, then how many more", rows.length === 50 && more && Number(more[2]) === 50 + Number(more[1]),
  { rows: rows.length, tail: many.slice(-80) });

// no attempt runs: said plainly, with the last attempt
const failing = new OpenAI({ baseURL: failingURL, apiKey: "none", maxRetries: 0, timeout: 120000 });
const bad = (await failing.chat.completions.create({ model: "sql-agent", messages: [user("How many customers are from Germany?")] }))
  .choices[0].message.content;
check("agent failure: says no query ran, shows the last attempt and the error",
  /^No query ran:/.test(bad) && /```sql\n.+\n```/.test(bad) && /SQLite said: /.test(bad), bad);

// a follow-up: earlier turns are the conversation; the reply still answers
const follow = await ask([user("What are the names of the products?"),
  { role: "assistant", content: "```sql\nSELECT name FROM products;\n```" }, user("What is their highest unit price?")]);
check("agent follow-up answered", /```sql\nSELECT/.test(follow.choices[0].message.content), follow.choices[0].message.content);

// bad requests
await raises("agent: empty question raises BadRequestError", () => ask([user("  ")]), OpenAI.BadRequestError, 400, /question/);
await raises("agent: last message not the user's raises BadRequestError",
  () => ask([user(q1), { role: "assistant", content: "x" }]), OpenAI.BadRequestError, 400, /last message/);
await raises("unknown model names sql-agent", () => ask([user(q1)], { model: "gpt-4o" }), OpenAI.NotFoundError, 404, /sql-agent/);

// the raw model in the model file's own prompt format (sql-create-context): the system message is the context
const raw = await client.chat.completions.create({ model: base, temperature: 0, max_tokens: 40, messages: [
  { role: "system", content: "CREATE TABLE head (name VARCHAR, age INTEGER)" }, user("What are the names of the heads older than 56?")] });
const rc = raw.choices[0].message.content;
check("raw model prompted in its own format writes SQL", /^SELECT [^\n]*\bhead\b/i.test(rc) && !/###/.test(rc), rc);

process.exit(failed ? 1 : 0);
