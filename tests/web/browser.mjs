// browser.mjs — drives the web page of `sqlassist serve` in Debian's
// chromium (headless, fresh profile) with playwright-core:
//   - the page asks for the API key, then shows the schema;
//   - a question streams SQL into an attempt card token by token, with
//     syntax highlighting; each failed attempt shows its error; the
//     timings name the adapter chosen in the selector;
//   - the history keeps the question;
//   - a real result renders through the page's own "Run SQL" editor (the
//     small random model never writes SQL that runs): the table, a bar
//     chart for a label + numbers result, a line chart for an ordered
//     date-labelled one, CSV and JSON downloads;
//   - no console errors (CSP violations included) and no outside requests;
//   - a screenshot for the CI artifacts.
//
//   node browser.mjs URL API_KEY SCREENSHOT.png PROFILE_DIR DOWNLOAD_DIR [ADAPTER]
import { chromium } from "playwright-core";
import fs from "node:fs";

const [, , url, apiKey, shot, profile, downloads, adapter] = process.argv;
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("PASS " + name);
  else { failed++; console.log("FAIL " + name + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}

fs.rmSync(profile, { recursive: true, force: true });
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  downloadsPath: downloads,
  viewport: { width: 1400, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const consoleErrors = [], foreign = [];
const page = context.pages()[0] || (await context.newPage());
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) foreign.push(r.url()); });
page.setDefaultTimeout(60000);

try {
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("health-text").textContent.startsWith("ready"));
  check("health shown as ready", true);

  // the key
  await page.waitForSelector("#keybox:not(.hidden)");
  check("the page asks for the API key", await page.isVisible("#apikey"));
  await page.fill("#apikey", apiKey);
  await page.click("#apikey-save");
  await page.waitForFunction(() => document.querySelectorAll("#schema-tables details").length > 0);
  const tables = await page.$$eval("#schema-tables summary", (s) => s.map((x) => x.textContent));
  check("schema shown beside the question", JSON.stringify(tables) === JSON.stringify(["products", "sales"]), tables);

  // the adapter selector
  const options = await page.$$eval("#adapter option", (o) => o.map((x) => x.value));
  if (adapter) {
    check("adapter selector lists the adapters", options.includes(adapter) && options.includes(""), options);
    await page.selectOption("#adapter", adapter);
  } else {
    console.log("NOTE no adapter loaded: the adapter switch is not exercised");
  }

  // a question, streamed
  await page.evaluate(() => {
    window.__lengths = [];
    new MutationObserver(() => {
      const pre = document.querySelector("#attempts-list .attempt pre.sql");
      if (pre) window.__lengths.push(pre.textContent.length);
    }).observe(document.getElementById("attempts-list"), { subtree: true, childList: true, characterData: true });
  });
  await page.fill("#question", "Which category has the most products?");
  await page.selectOption("#attempts", "2");
  await page.click("#ask");
  await page.waitForFunction(() => !document.getElementById("ask").disabled && document.querySelectorAll(".attempt .badge.bad, .attempt .badge.good").length > 0);
  const lengths = await page.evaluate(() => window.__lengths);
  const distinct = [...new Set(lengths.filter((n) => n > 0))];
  check(`SQL streamed in token by token (${distinct.length} updates seen)`, distinct.length >= 3, distinct.slice(0, 10));
  const cards = await page.$$eval(".attempt", (cs) => cs.map((c) => ({
    badge: c.querySelector(".badge").textContent, sql: c.querySelector("pre.sql").textContent,
    error: c.querySelector(".error").textContent, kw: c.querySelectorAll(".tk-kw").length })));
  check("one card per attempt", cards.length >= 1 && cards.length <= 2, cards);
  const failedCards = cards.filter((c) => c.badge === "error");
  check("failed attempts show their error", failedCards.length >= 1 && failedCards.every((c) => c.error.length > 0), cards);
  check("SQL is highlighted", cards.some((c) => c.kw > 0 && /^SELECT/i.test(c.sql)), cards);
  const timings = await page.$$eval("#timings dt, #timings dd", (x) => x.map((e) => e.textContent));
  const adapterShown = timings[timings.indexOf("adapter") + 1];
  check("timings shown, naming the adapter", timings.includes("prefill") && timings.includes("decode") && timings.includes("tokens/s")
    && adapterShown === (adapter || "base model"), timings);
  const history = await page.$$eval("#history-list li", (l) => l.map((x) => x.textContent));
  check("history keeps the question", history.length >= 1 && history[0].includes("Which category has the most products?"), history);
  await page.screenshot({ path: shot.replace(/\.png$/, "-attempts.png"), fullPage: true });

  // switch back to the base model and ask again
  if (adapter) {
    await page.selectOption("#adapter", "");
    await page.fill("#question", "How many sales were there?");
    await page.selectOption("#attempts", "1");
    await page.click("#ask");
    await page.waitForFunction(() => !document.getElementById("ask").disabled && document.querySelectorAll(".attempt .badge.bad, .attempt .badge.good").length > 0);
    const t2 = await page.$$eval("#timings dt, #timings dd", (x) => x.map((e) => e.textContent));
    check("adapter switched back to the base model", t2[t2.indexOf("adapter") + 1] === "base model", t2);
  }

  // "Edit & run" copies an attempt's SQL into the editor
  await page.click(".attempt button");
  const copied = await page.inputValue("#sql-editor");
  check("Edit & run copies the attempt's SQL", /^SELECT/i.test(copied), copied);

  // a real result: table and bar chart
  await page.fill("#sql-editor", "SELECT category, count(*) AS products, sum(price) AS total_price FROM products GROUP BY category ORDER BY category");
  await page.click("#run-sql");
  await page.waitForSelector("#chart svg");
  const rows = await page.$$eval("#result-table tbody tr", (r) => r.map((x) => [...x.children].map((c) => c.textContent)));
  check("result table rendered", rows.length === 3 && rows[0].join("|") === "food|7|96.25", rows);
  const bar = await page.$eval("#chart svg", (s) => ({ kind: s.dataset.kind, rects: s.querySelectorAll("rect").length, text: s.textContent }));
  check("bar chart for label + numeric columns", bar.kind === "bar" && bar.rects >= 6 && bar.text.includes("total_price"), bar);

  // line chart for an ordered date-like label
  await page.fill("#sql-editor", "SELECT day, sum(units) AS units FROM sales GROUP BY day ORDER BY day");
  await page.click("#run-sql");
  await page.waitForFunction(() => document.querySelector("#chart svg") && document.querySelector("#chart svg").dataset.kind === "line");
  const line = await page.$eval("#chart svg polyline", (p) => p.getAttribute("points").split(" ").length);
  check("line chart for ordered dates", line === 28, line);

  // a refused statement shows its error and no table
  await page.fill("#sql-editor", "DELETE FROM sales");
  await page.click("#run-sql");
  await page.waitForFunction(() => document.getElementById("status").classList.contains("bad"));
  check("a refused statement is reported", (await page.textContent("#status")).includes("failed")
    && await page.isHidden("#table-wrap"), await page.textContent("#status"));

  // downloads of the rows
  await page.fill("#sql-editor", "SELECT id, name, price FROM products WHERE id <= 4 ORDER BY id");
  await page.click("#run-sql");
  await page.waitForFunction(() => document.querySelectorAll("#result-table tbody tr").length === 4);
  const [csvDl] = await Promise.all([page.waitForEvent("download"), page.click("#dl-csv")]);
  const csv = fs.readFileSync(await csvDl.path(), "utf8").trim().split(/\r\n/);
  check("CSV download", csv[0] === "id,name,price" && csv.length === 5 && csv[1] === "1,product 1,1.25", csv);
  const [jsonDl] = await Promise.all([page.waitForEvent("download"), page.click("#dl-json")]);
  const js = JSON.parse(fs.readFileSync(await jsonDl.path(), "utf8"));
  check("JSON download", js.length === 4 && js[3].name === "product 4" && js[3].price === 5, js);

  await page.fill("#sql-editor", "SELECT category, count(*) AS products, sum(price) AS total_price FROM products GROUP BY category ORDER BY category");
  await page.click("#run-sql");
  await page.waitForSelector("#chart svg[data-kind=bar]");
  await page.screenshot({ path: shot, fullPage: true });
  check("screenshot saved", fs.statSync(shot).size > 10000);
  check("no console errors", consoleErrors.length === 0, consoleErrors);
  check("no requests to other hosts", foreign.length === 0, foreign);
} catch (e) {
  failed++;
  console.log("FAIL browser run: " + (e && e.stack ? e.stack : e));
  try { await page.screenshot({ path: shot.replace(/\.png$/, "-failure.png"), fullPage: true }); } catch (e2) { /* ignore */ }
} finally {
  await context.close();
}
process.exit(failed ? 1 : 0);
