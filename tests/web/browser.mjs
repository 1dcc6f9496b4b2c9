// browser.mjs — drives the web page of `sqlassist serve` in Debian's
// chromium (headless, fresh profile) with playwright-core, against two
// servers:
//   A: the small random test model behind an API key (with a LoRA adapter
//      when there is one), on a generated shop: the key prompt, the schema
//      with row counts, SQL streamed token by token with highlighting, each
//      attempt's error, the honest failure card (what went wrong, example
//      questions made from the schema, the last attempt), editing that SQL
//      and running it in the card, tables sorted by a click, bar and line
//      charts, CSV and JSON downloads, a refused statement, the adapter
//      switch, Shift+Enter, history items as buttons;
//   B: the bundled model on examples/shop.sqlite (real answers; the checks
//      hold for any model: a card's rows against /api/sql on its SQL, fixed
//      values through ?sql=, failures forced by sending those questions with
//      max_tokens 2 and no grammar): focus on load, example questions, a
//      single value as a big number with thousands separators, a table sorted
//      by a text column, a follow-up continuing the thread, a value the SQL
//      leaves out, a failed question and a failed follow-up that leave the
//      earlier answers,
//      "New conversation", ?q= and ?sql= links, schema search and a column
//      clicked into the question, labels and aria-live, text contrast
//      >= 4.5:1 in the light and the dark theme, and on a phone: the
//      question before the schema and chart labels of a readable size.
// Every page: no console errors (CSP violations included), no outside
// requests. Screenshots go next to SHOT (CI artifacts, for review).
//
//   node browser.mjs URL_A API_KEY_A URL_B SHOT.png PROFILE_DIR DOWNLOAD_DIR [ADAPTER]
import { chromium } from "playwright-core";
import fs from "node:fs";

const [, , urlA, apiKey, urlB, shot, profile, downloads, adapter] = process.argv;
let failed = 0;
function check(name, cond, detail) {
  if (cond) console.log("PASS " + name);
  else { failed++; console.log("FAIL " + name + (detail !== undefined ? " " + JSON.stringify(detail).slice(0, 1500) : "")); }
}
const shotPath = (name) => shot.replace(/\.png$/, "-" + name + ".png");

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
function watch(page) {
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(urlA) && !u.startsWith(urlB) && !u.startsWith("data:") && !u.startsWith("blob:")) foreign.push(u);
  });
  page.setDefaultTimeout(60000);
  return page;
}
const page = watch(context.pages()[0] || (await context.newPage()));
const idle = () => page.waitForFunction(() => !document.getElementById("ask").disabled);
const cardCount = () => page.$$eval("#thread .card", (c) => c.length);
async function askTyped(q, n) {   // types q and presses Enter; waits for card n to be done
  await page.fill("#question", q);
  await page.press("#question", "Enter");
  await page.waitForFunction((k) => document.querySelectorAll("#thread .card").length >= k && !document.getElementById("ask").disabled
    && document.querySelectorAll("#thread .card")[k - 1].querySelector(".timings-line details, .notice.fail"), n);
}
const card = (i) => page.locator("#thread .card").nth(i);

// text contrast of every visible text in the page (WCAG relative luminance)
const contrastFailures = () => page.evaluate(() => {
  const parse = (c) => { const m = /rgba?\(([^)]+)\)/.exec(c); return m ? m[1].split(/[\s,/]+/).filter(Boolean).map(Number) : null; };
  const lum = (rgb) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]); };
  const bgOf = (e) => {
    for (; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && (c.length < 4 || c[3] > 0.5)) return c; }
    return parse(getComputedStyle(document.body).backgroundColor) || [255, 255, 255];
  };
  const out = [];
  let checked = 0;
  for (const e of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "OPTION", "TITLE"].includes(e.tagName) || e.closest(":disabled, [hidden], .sr-only")) continue;
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility === "hidden") continue;
    const fg = parse(e instanceof SVGElement ? cs.fill : cs.color);
    if (!fg) continue;
    const bg = bgOf(e instanceof SVGElement ? e.closest("svg") : e);
    const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    checked++;
    if (ratio < 4.5) out.push(e.tagName + "." + (typeof e.className === "string" ? e.className : "") + " '" + e.textContent.trim().slice(0, 30) + "' " + ratio.toFixed(2));
  }
  return { checked, out };
});

try {
  // ================= A: the random model, an API key ==================================
  await page.goto(urlA);
  await page.waitForFunction(() => document.getElementById("health-text").textContent.startsWith("ready"));
  check("health shown as ready", true);
  check("no download buttons on the empty page", (await page.locator("button:visible", { hasText: "Download" }).count()) === 0);
  await page.waitForSelector("#keybox:not([hidden])");
  check("the page asks for the API key", await page.isVisible("#apikey"));
  await page.fill("#apikey", apiKey);
  await page.click("#apikey-save");
  await page.waitForFunction(() => document.querySelectorAll("#schema-tables details").length > 0);
  const tables = await page.$$eval("#schema-tables summary", (s) => s.map((x) => x.firstChild.textContent));
  check("schema shown", JSON.stringify(tables) === JSON.stringify(["products", "sales"]), tables);
  await page.waitForFunction(() => /200 rows/.test(document.querySelector("#schema-tables details:nth-child(2) .count").textContent));
  check("schema shows row counts", (await page.textContent("#schema-tables details .count")).includes("20 rows"));

  // the adapter list comes with its own request, after the schema's: wait for it (a busy
  // machine answered the schema first and the check read only the base option)
  if (adapter) {
    await page.waitForFunction((a) => [...document.querySelectorAll("#adapter option")].some((o) => o.value === a),
                               adapter, { timeout: 10000 }).catch(() => {});
  }
  const options = await page.$$eval("#adapter option", (o) => o.map((x) => x.value));
  if (adapter) {
    check("adapter selector lists the adapters", options.includes(adapter) && options.includes(""), options);
    await page.selectOption("#adapter", adapter);
  } else {
    console.log("NOTE no adapter loaded: the adapter switch is not exercised");
  }

  // Shift+Enter adds a line, Enter asks
  await page.fill("#question", "");
  await page.type("#question", "Which category");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("has the most products?");
  check("Shift+Enter adds a line", (await page.inputValue("#question")) === "Which category\nhas the most products?" && (await cardCount()) === 0);
  await page.evaluate(() => {
    window.__lengths = [];
    new MutationObserver(() => {
      const pre = document.querySelector("#thread .attempt pre.sql");
      if (pre) window.__lengths.push(pre.textContent.length);
    }).observe(document.getElementById("thread"), { subtree: true, childList: true, characterData: true });
  });
  await page.selectOption("#attempts", "2");
  await page.press("#question", "Enter");
  await page.waitForFunction(() => document.querySelector("#thread .card .notice.fail") && !document.getElementById("ask").disabled);
  check("Enter asks (one card)", (await cardCount()) === 1);
  const distinct = [...new Set((await page.evaluate(() => window.__lengths)).filter((n) => n > 0))];
  check(`SQL streamed in token by token (${distinct.length} updates seen)`, distinct.length >= 3, distinct.slice(0, 10));
  const atts = await card(0).locator(".attempt").evaluateAll((cs) => cs.map((c) => ({
    badge: c.querySelector(".badge").textContent, sql: c.querySelector("pre.sql").textContent,
    error: c.querySelector(".error").textContent, kw: c.querySelectorAll(".tk-kw").length })));
  check("one block per attempt, each failed with its error", atts.length === 2 && atts.every((a) => a.badge === "error" && a.error.length > 0), atts);
  check("SQL is highlighted", atts.some((a) => a.kw > 0 && /^SELECT/i.test(a.sql)), atts);
  const fail = await card(0).locator(".notice.fail").textContent();
  check("failure card says what the model could not do and suggests rephrasing", /could not write SQL that runs/.test(fail) && /rephrasing/.test(fail), fail);
  const ex = await card(0).locator(".notice.fail .examples button").allTextContents();
  check("failure card lists example questions from the schema", ex.includes("What is the highest price of the products?"), ex);
  const best = await card(0).locator(".sql-box pre.sql").textContent();
  check("failure card shows the last attempt with its error", best === atts[1].sql && (await card(0).locator(".sql-box > .error").textContent()).startsWith("SQLite: "), best);
  await card(0).locator(".timings-line summary").click();
  const timings = await card(0).locator("dl.timings dt, dl.timings dd").allTextContents();
  check("timings shown, naming the adapter", timings.includes("prefill") && timings.includes("tokens/s")
    && timings[timings.indexOf("adapter") + 1] === (adapter || "base model"), timings);
  const hist = await page.$$eval("#history-list li", (l) => l.map((x) => ({ button: !!x.querySelector("button"), text: x.textContent })));
  check("history keeps the question, as a button", hist.length >= 1 && hist[0].button && hist[0].text.includes("has the most products?"), hist);
  await page.screenshot({ path: shotPath("failure"), fullPage: true });

  // edit the failed attempt's SQL in the card and run it there: table, bar chart, sorting
  await card(0).getByRole("button", { name: "Edit SQL" }).click();
  // (a textarea's value has its line breaks normalized to \n)
  const nl = (t) => t.replace(/\r\n?/g, "\n");
  const edited = await card(0).locator("textarea.sql-edit").inputValue();
  check("Edit SQL opens the card's editor with the attempt's SQL", nl(edited) === nl(best), JSON.stringify([edited, best]));
  await card(0).locator("textarea.sql-edit").fill("SELECT category, count(*) AS products, sum(price) AS total_price FROM products GROUP BY category ORDER BY category");
  await card(0).getByRole("button", { name: "Run", exact: true }).click();
  await page.waitForFunction(() => document.querySelector("#thread .card table"));
  const rows = await card(0).locator("tbody tr").evaluateAll((r) => r.map((x) => [...x.children].map((c) => c.textContent)));
  check("edited SQL runs in the card: table", rows.length === 3 && rows[0].join("|") === "food|7|96.25", rows);
  check("the card is no longer a failure, its link runs the SQL", !(await card(0).getAttribute("class")).includes("failed")
    && (await card(0).locator(".card-head a").getAttribute("href")).startsWith("?sql=SELECT%20category"));
  const bar = await card(0).locator(".chart svg").evaluate((s) => ({ kind: s.dataset.kind, rects: s.querySelectorAll("rect").length, text: s.textContent }));
  check("bar chart for label + numeric columns", bar.kind === "bar" && bar.rects >= 6 && bar.text.includes("total_price"), bar);
  const align = await card(0).locator("table").evaluate((t) => [...t.querySelectorAll("th")].map((th) => getComputedStyle(th).textAlign)
    .concat([...t.querySelectorAll("tbody tr:first-child td")].map((td) => getComputedStyle(td).textAlign)));
  check("numeric columns and their headers right-aligned", JSON.stringify(align) === JSON.stringify(["left", "right", "right", "left", "right", "right"]), align);
  await card(0).getByRole("button", { name: /^total_price/ }).click();
  let col = await card(0).locator("tbody tr td:nth-child(3)").allTextContents();
  check("a click on a header sorts (ascending)", JSON.stringify(col) === JSON.stringify(col.slice().sort((a, b) => a - b))
    && (await card(0).locator("th:nth-child(3)").getAttribute("aria-sort")) === "ascending", col);
  await card(0).getByRole("button", { name: /^total_price/ }).click();
  col = await card(0).locator("tbody tr td:nth-child(3)").allTextContents();
  check("a second click sorts descending", JSON.stringify(col) === JSON.stringify(col.slice().sort((a, b) => b - a)), col);

  // downloads of the card's rows
  const [csvDl] = await Promise.all([page.waitForEvent("download"), card(0).getByRole("button", { name: "Download CSV" }).click()]);
  const csv = fs.readFileSync(await csvDl.path(), "utf8").trim().split(/\r\n/);
  check("CSV download", csv[0] === "category,products,total_price" && csv.length === 4 && csv[1] === "food,7,96.25", csv);
  const [jsonDl] = await Promise.all([page.waitForEvent("download"), card(0).getByRole("button", { name: "Download JSON" }).click()]);
  const js = JSON.parse(fs.readFileSync(await jsonDl.path(), "utf8"));
  check("JSON download", js.length === 3 && js[2].category === "toys" && js[0].total_price === 96.25, js);

  // Run as SQL: a line chart for ordered dates; a refused statement
  await page.fill("#question", "SELECT day, sum(units) AS units FROM sales GROUP BY day ORDER BY day");
  await page.click("#run-sql");
  await page.waitForFunction(() => document.querySelectorAll("#thread .card").length === 2 && document.querySelector("#thread .card:nth-child(2) svg"));
  const line = await card(1).locator(".chart svg").evaluate((s) => ({ kind: s.dataset.kind, points: s.querySelector("polyline").getAttribute("points").split(" ").length }));
  check("line chart for ordered dates", line.kind === "line" && line.points === 28, line);
  await page.fill("#question", "DELETE FROM sales");
  await page.click("#run-sql");
  await page.waitForFunction(() => document.querySelectorAll("#thread .card").length === 3 && document.querySelector("#thread .card:nth-child(3).failed"));
  check("a refused statement is reported in its card", (await card(2).locator(".sql-box > .error").textContent()).includes("failed")
    && (await card(2).locator("table").count()) === 0 && (await card(2).locator("button", { hasText: "Download" }).count()) === 0);

  if (adapter) {
    await page.selectOption("#adapter", "");
    await page.selectOption("#attempts", "1");
    await askTyped("How many sales were there?", 4);
    await card(3).locator(".timings-line summary").click();
    const t2 = await card(3).locator("dl.timings dt, dl.timings dd").allTextContents();
    check("adapter switched back to the base model", t2[t2.indexOf("adapter") + 1] === "base model", t2);
  }
  await page.screenshot({ path: shotPath("edit-run"), fullPage: true });

  // ================= B: the bundled model on examples/shop.sqlite ===============================
  // The checks hold for any model: a card's rows are compared with /api/sql on the SQL the
  // card shows, fixed values come from ?sql= links, and the questions meant to fail are sent
  // with max_tokens 2 and no grammar (a cut-off query) by rewriting their request.
  const rewrite = new Map();   // question (or the end of a folded follow-up) -> fields added to its /api/ask request
  const FAIL = { max_tokens: 2, grammar: false };   // a cut-off query: no attempt runs, whatever the model
  await page.route(urlB + "api/ask", (route) => {
    const body = JSON.parse(route.request().postData() || "{}");
    for (const [q, fields] of rewrite) if ((body.question || "").endsWith(q)) Object.assign(body, fields);   // a follow-up is sent folded
    return route.continue({ postData: JSON.stringify(body) });
  });
  const sqlResult = (sql) => page.evaluate(async ([u, q]) => {
    const r = await fetch(u + "api/sql", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sql: q }) });
    return r.json();
  }, [urlB, sql]);
  // what card i shows: one value (its big number, commas dropped) or the cells of its table
  const cardValues = async (i) => (await card(i).locator(".big").count())
    ? [[(await card(i).locator(".big").textContent()).replace(/,/g, "")]]
    : card(i).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  const text = (v) => (v === null ? "" : String(v));
  async function cardHoldsItsRows(i, name) {
    const sql = await card(i).locator("details.sql-box pre.sql").textContent();
    const res = await sqlResult(sql);
    const want = (res.result && res.result.rows || []).map((r) => r.map(text));
    const got = await cardValues(i);
    const same = got.length === want.length && got.every((r, k) => r.length === want[k].length
      && r.every((c, j) => c === want[k][j] || Number(c) === Number(want[k][j])));
    check(name, res.ok && want.length > 0 && same, { sql, got: got.slice(0, 3), want: want.slice(0, 3) });
  }

  await page.goto(urlB);
  await page.waitForFunction(() => document.querySelectorAll("#examples button").length > 0);
  check("the question box has focus on load", await page.evaluate(() => document.activeElement.id === "question"));
  const exB = await page.locator("#examples button").allTextContents();
  check("example questions from the schema", exB[0] === "What is the highest unit price of the products?" && exB.length === 3, exB);
  await page.locator("#examples button").first().click();
  await page.waitForFunction(() => document.querySelector("#thread .card .timings-line details") && !document.getElementById("ask").disabled);
  check("the SQL is shown, collapsible", /^SELECT /i.test(await card(0).locator("details.sql-box pre.sql").textContent()));
  await cardHoldsItsRows(0, "an example question's card shows the rows of its SQL");
  check("status is an aria-live region", (await page.getAttribute("#status", "aria-live")) === "polite"
    && /Answered/.test(await page.textContent("#status")));

  await askTyped("only those with more than 10 units in stock", 2);
  check("a follow-up continues the thread, keeping the question's meaning",
    (await card(1).locator(".asked-as").textContent()).includes("What is the highest unit price of the products, only those with more than 10 units in stock")
    && /^SELECT /i.test(await card(1).locator(".sql-box pre.sql").textContent()));
  await askTyped("What is the lowest salary of the employees?", 3);
  await cardHoldsItsRows(2, "a typed question's card shows the rows of its SQL");
  // a query the grammar steers to an end within 6 tokens cannot name Germany: the page says the value is left out
  rewrite.set("What are the names of the customers from Germany?", { max_tokens: 6, max_attempts: 1, grammar: true });
  await askTyped("What are the names of the customers from Germany?", 4);
  const warn = await card(3).locator(".notice.warn").textContent().catch(() => "");
  check("the answer says when the SQL leaves out a value the question names", warn.includes("“Germany”"), warn);
  const before = [await card(0).innerText(), await card(2).innerText()];
  rewrite.set("How many customers are from Germany?", FAIL);
  await askTyped("How many customers are from Germany?", 5);
  check("a failed question is a failure card", (await card(4).getAttribute("class")).includes("failed")
    && (await card(4).locator(".notice.fail .examples button").count()) === 3);
  check("a failed question leaves the earlier answers", (await cardCount()) === 5 && (await card(0).innerText()) === before[0]
    && (await card(2).innerText()) === before[1]);
  // a follow-up (it names no table) that fails: a failure card of its own, the answers before it stay
  rewrite.set("and from France", FAIL);
  await askTyped("and from France", 6);
  const cls5 = await card(5).getAttribute("class"), asked5 = await card(5).locator(".asked-as").textContent().catch(() => "");
  check("a failed follow-up is a failure card of its own", cls5.includes("failed")
    && asked5.includes("How many customers are from Germany, and from France"), [cls5, asked5]);
  check("a failed follow-up leaves the earlier answers", (await cardCount()) === 6 && (await card(0).innerText()) === before[0]
    && (await card(2).innerText()) === before[1] && (await card(3).locator(".notice.warn").count()) === 1);
  await page.screenshot({ path: shot, fullPage: true });
  check("screenshot saved", fs.statSync(shot).size > 10000);

  // labels, history buttons, contrast in both themes
  const unlabelled = await page.$$eval("input, select, textarea", (xs) => xs.filter((x) => x.type !== "hidden" && !x.labels.length
    && !x.getAttribute("aria-label") && !x.closest("[hidden]")).map((x) => x.id || x.className));
  check("every input, select and text box has a label", unlabelled.length === 0, unlabelled);
  check("history items are buttons", (await page.locator("#history-list li button").count()) >= 5);
  const light = await contrastFailures();
  check(`text contrast >= 4.5:1, light theme (${light.checked} texts)`, light.checked > 50 && light.out.length === 0, light.out);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await contrastFailures();
  check(`text contrast >= 4.5:1, dark theme (${dark.checked} texts)`, dark.checked > 50 && dark.out.length === 0, dark.out);
  await page.screenshot({ path: shotPath("dark"), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  // schema search; a column clicked into the question
  await page.fill("#schema-search", "salary");
  const shown = await page.$$eval("#schema-tables details", (ds) => ds.filter((d) => !d.hidden).map((d) => d.dataset.table + ":" +
    [...d.querySelectorAll("li[data-column]")].filter((li) => !li.hidden).map((li) => li.dataset.column).join(",")));
  check("schema search keeps the matching table and column", JSON.stringify(shown) === JSON.stringify(["employees:salary"]), shown);
  await page.waitForFunction(() => /650 rows/.test(document.querySelector("#schema-tables details[data-table=customers] .count").textContent));
  check("row counts of the sample database", true);
  await page.fill("#question", "What is the highest");
  await page.getByRole("button", { name: "Insert column salary of employees" }).click();
  check("a click on a column puts it into the question", (await page.inputValue("#question")) === "What is the highest salary");
  await page.click("#new-conversation");
  check("New conversation empties the thread", (await cardCount()) === 0 && (await page.isVisible("#examples")));

  // links; fixed values through ?sql=: a big number, thousands separators, a table sorted by a text column
  await page.goto(urlB + "?q=" + encodeURIComponent("What is the highest salary of the employees?"));
  await page.waitForFunction(() => document.querySelector("#thread .card .timings-line details") && !document.getElementById("ask").disabled);
  check("?q= asks the question", (await card(0).locator("h3").textContent()) === "What is the highest salary of the employees?");
  await cardHoldsItsRows(0, "?q='s card shows the rows of its SQL");
  await page.goto(urlB + "?sql=" + encodeURIComponent("SELECT max(unit_price) FROM products"));
  await page.waitForFunction(() => document.querySelector("#thread .card .big"));
  check("a single value is a big number", (await card(0).locator(".big").textContent()) === "167.68"
    && (await card(0).locator(".big-label").textContent()) === "max(unit_price)");
  await page.goto(urlB + "?sql=" + encodeURIComponent("SELECT min(salary) FROM employees"));
  await page.waitForFunction(() => document.querySelector("#thread .card .big"));
  check("thousands separators in a big number", (await card(0).locator(".big").textContent()) === "46,250");
  await page.goto(urlB + "?sql=" + encodeURIComponent("SELECT name FROM products"));
  await page.waitForFunction(() => document.querySelector("#thread .card table"));
  await card(0).getByRole("button", { name: /^name/ }).click();
  const names = await card(0).locator("tbody td").allTextContents();
  check("a table sorts by a text column", names.length === 137 && JSON.stringify(names) === JSON.stringify(names.slice().sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))));
  await page.goto(urlB + "?sql=" + encodeURIComponent("SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY 2 DESC LIMIT 5"));
  await page.waitForFunction(() => document.querySelector("#thread .card table"));
  check("?sql= runs the SQL", (await card(0).locator("tbody tr").count()) === 5);

  // a phone
  const phone = watch(await context.newPage());
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(urlB + "?sql=" + encodeURIComponent("SELECT category_id, count(*) AS products, avg(unit_price) AS price FROM products GROUP BY 1"));
  await phone.waitForFunction(() => document.querySelector("#thread .card svg"));
  const order = await phone.evaluate(() => [document.getElementById("question").getBoundingClientRect().top, document.getElementById("schema").getBoundingClientRect().top]);
  check("on a phone the question box comes before the schema", order[0] < order[1], order);
  const font = await phone.$eval("#thread .chart svg", (s) => {
    const scale = s.getBoundingClientRect().width / s.viewBox.baseVal.width;
    return Math.min(...[...s.querySelectorAll("text")].map((t) => parseFloat(getComputedStyle(t).fontSize) * scale));
  });
  check(`chart labels readable on a phone (${font.toFixed(1)} px)`, font >= 11, font);
  await phone.screenshot({ path: shotPath("phone"), fullPage: true });
  await phone.close();

  check("no console errors", consoleErrors.length === 0, consoleErrors);
  check("no requests to other hosts", foreign.length === 0, foreign);
} catch (e) {
  failed++;
  console.log("FAIL browser run: " + (e && e.stack ? e.stack : e));
  try { await page.screenshot({ path: shotPath("failure-run"), fullPage: true }); } catch (e2) { /* ignore */ }
} finally {
  await context.close();
}
process.exit(failed ? 1 : 0);
