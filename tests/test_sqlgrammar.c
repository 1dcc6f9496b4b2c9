/*
** test_sqlgrammar.c — the constrained-decoding SQL parser of
** src/agent/sqlgrammar.c.
**
**   test_sqlgrammar                  the built-in corpus: complete queries
**                                    accepted, invalid prefixes refused at
**                                    the right byte, completions that SQLite
**                                    prepares; with the Qwen2.5 vocabulary
**                                    (tests/out/qwen-tokenizer.gguf) also the
**                                    mask against single-token checks and
**                                    random walks that the token budget
**                                    must end as complete statements
**   test_sqlgrammar --gold FILE DBDIR  every "SQL<TAB>db_id" line of a Spider
**                                    gold file must be accepted as complete
**                                    on the schema of DBDIR/db/db.sqlite
**     --absent DB,DB,...             databases the data is known to lack:
**                                    their lines are counted as not checked
**                                    (any other database that cannot be
**                                    opened is a check_skip, a failure under
**                                    CI=true)
**   test_sqlgrammar --jsonl FILE     every {"context","answer"} row (the
**                                    sql-create-context format) likewise, on
**                                    the schema its CREATE TABLE context makes
** The gold modes print each refused query (with SQLite's verdict on it) and
** the rate; they fail when more than --max-refused (default 0) of the
** refused queries are ones SQLite prepares without error (queries SQLite
** refuses too are reported, not counted; docs/agent.md lists them).
*/
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/sqlgrammar.h"
#include "engine/tokenizer.h"
#include "sql/sandbox.h"
#include "sql/schema.h"

#include "check.h"

static const char *SHOP =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, country TEXT, signup_date TEXT);"
    "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), order_date TEXT,"
    " total REAL);"
    "CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, quantity INTEGER, \"unit price\" REAL);";

static sandbox *open_ctx(const char *ddl, sc_schema *s) {
    sa_err e = {{0}};
    sandbox *sb = sb_open_context(ddl, NULL, &e);
    if (!sb) { printf("context: %s\n", e.msg); return NULL; }
    if (sc_introspect(sb, 0, s, &e)) { printf("introspect: %s\n", e.msg); sb_close(sb); return NULL; }
    return sb;
}

/* Does SQLite prepare sql on sb without error? */
static int sqlite_ok(sandbox *sb, const char *sql, char *why, size_t cap) {
    sb_result r;
    sa_err e = {{0}};
    int ok = sb_run(sb, sql, &r, &e) == 0;
    sb_result_free(&r);
    if (!ok && why) snprintf(why, cap, "%.200s", e.msg);
    return ok;
}

/* From each prefix, g's shortest completion makes a complete statement that
** SQLite prepares; label names g in the messages. */
static void check_completions(sql_grammar *g, sandbox *sb, const char *const *prefixes, size_t n_prefixes,
                              const char *label) {
    for (size_t i = 0; i < n_prefixes; i++) {
        sg_reset(g, prefixes[i]);
        char *c = sg_completion(g);
        CHECK(c != NULL, "%sno completion for %s", label, prefixes[i]);
        if (!c) continue;
        size_t n = strlen(prefixes[i]) + strlen(c) + 1;
        char *full = malloc(n);
        snprintf(full, n, "%s%s", prefixes[i], c);
        int complete = 0;
        long at = sg_check_text(g, full, strlen(full), &complete);
        char why[300] = "";
        CHECK(at < 0 && complete, "%scompletion '%s' of '%s' not complete", label, c, prefixes[i]);
        CHECK(sqlite_ok(sb, full, why, sizeof why), "%scompletion '%s' SQLite refuses (%s)", label, full, why);
        free(full);
        free(c);
    }
}

static void corpus(void) {
    sc_schema s = {0};
    sandbox *sb = open_ctx(SHOP, &s);
    if (!sb) { CHECK_FAIL("cannot open the test database"); return; }
    sql_grammar *g = sg_new(NULL, &s);
    static const char *const VALID[] = {
        "SELECT count(*) FROM customers",
        "SELECT name FROM customers WHERE city = 'Paris';",
        "select NAME from CUSTOMERS where COUNTRY = \"France\" order by name desc limit 5",
        "SELECT c.name, count(o.id) AS n FROM customers AS c JOIN orders AS o ON o.customer_id = c.id GROUP BY c.id "
        "HAVING count(*) > 2 ORDER BY n DESC",
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id WHERE T2.total BETWEEN 10 AND 20 "
        "AND T1.city LIKE 'P%'",
        "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
        "SELECT name FROM customers EXCEPT SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id",
        "SELECT avg(price), max(price), min(price), sum(price) FROM products WHERE category IS NOT NULL",
        "SELECT strftime('%Y', order_date) AS y, count(*) FROM orders GROUP BY y ORDER BY y",
        "WITH big AS (SELECT customer_id, sum(total) AS s FROM orders GROUP BY customer_id) SELECT name, s FROM big JOIN "
        "customers ON customers.id = big.customer_id",
        "SELECT CASE WHEN price > 10 THEN 'high' ELSE 'low' END, CAST(price AS INTEGER) FROM products",
        "SELECT p.* FROM products p LEFT JOIN order_items oi ON oi.product_id = p.id WHERE oi.order_id IS NULL",
        "SELECT \"unit price\" FROM order_items WHERE quantity >= 2",
        "SELECT count(DISTINCT city) FROM customers",
        "SELECT name FROM products ORDER BY price DESC LIMIT 3 OFFSET 1",
        "SELECT * FROM customers WHERE signup_date LIKE '2023%' OR name = 'O''Brien'",
        "SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE orders.customer_id = customers.id)",
        "SELECT (SELECT count(*) FROM orders) - 1",
        "SELECT name FROM customers WHERE id IN (1, 2, 3) UNION ALL SELECT name FROM products",
        "SELECT coalesce(city, 'unknown'), length(name) FROM customers",
        "SELECT name FROM customers WHERE lower(city) <> 'paris' AND -id < 0",
        "SELECT 1",
        "SELECT total FROM orders WHERE total > (SELECT avg(total) FROM orders)",
        "  SELECT name FROM customers  ;  ",
        "SELECT name FROM customers;\n```",
        "SELECT name, city FROM customers ORDER BY 2 COLLATE NOCASE, 1 NULLS LAST",
        "SELECT name FROM customers GROUP BY city HAVING count(*) >= 1",
    };
    for (size_t i = 0; i < sizeof VALID / sizeof *VALID; i++) {
        int complete = 0;
        long at = sg_check_text(g, VALID[i], strlen(VALID[i]), &complete);
        CHECK(at < 0 && complete, "valid query refused at %ld (complete %d): %s", at, complete, VALID[i]);
        /* and SQLite agrees, fences aside */
        if (!strchr(VALID[i], '`')) {
            char why[300] = "";
            CHECK(sqlite_ok(sb, VALID[i], why, sizeof why), "corpus query SQLite refuses (%s): %s", why, VALID[i]);
        }
    }
    /* invalid: refused at the byte marked '|' (the first that cannot continue), or (no mark) not complete */
    static const char *const INVALID[] = {
        "SELECT name FROM c|lients",                                   /* unknown table */
        "SELECT name FROM customers WHERE pri|ce > 3",                 /* a column of a table not in scope */
        "SELECT name FROM customers WHERE id = 1 |WHERE",              /* two WHERE */
        "SELECT name FROM customers WHERE (id = 1",                    /* unbalanced: not complete */
        "SELECT name FROM customers WHERE id = 1|)",
        "|DELETE FROM customers",                                      /* writes */
        "|INSERT INTO customers VALUES (1)",
        "SELECT name FROM customers; |DROP TABLE customers",
        "SELECT count(*) FROM orders WHERE co|unt(*) > 1",             /* aggregate in WHERE */
        "SELECT nos|uchfunc(1)",
        "SELECT name FROM customers |-- comment",
        "SELECT name FROM customers |/* x */",
        "SELECT T9.name FROM customers AS T1",                         /* T9 never defined: FROM cannot end */
        "SELECT name FROM customers UNION SELECT name, city FROM customers",
        "SELECT id FROM customers JOIN orders ON orders.customer_id = customers.id",   /* ambiguous id */
        "SELECT name FROM customers WHERE city = 'Paris",              /* open string */
        "SELECT max(|) FROM products",
        "SELECT * ",
        "SELECT name FROM customers ORDER |price",
        "SELECT name FROM customers `|x`",
        "SELECT name FROM customers LIMIT n|ame",
        "SELECT quantity FROM order_items WHERE uni|t",              /* "unit price" is written quoted only */
    };
    for (size_t i = 0; i < sizeof INVALID / sizeof *INVALID; i++) {
        char t[512];
        const char *bar = strchr(INVALID[i], '|');
        long want = bar ? (long)(bar - INVALID[i]) : -1;
        size_t n = 0;
        for (const char *p = INVALID[i]; *p; p++) if (*p != '|') t[n++] = *p;
        t[n] = 0;
        int complete = 1;
        long at = sg_check_text(g, t, n, &complete);
        if (bar) CHECK(at == want, "invalid text refused at %ld, expected %ld: %s", at, want, t);
        else CHECK(at >= 0 || !complete, "invalid text accepted as complete: %s", t);
    }
    /* a NUL byte is refused where it stands, inside a quoted name too (the
    ** name dictionary's entries end at a NUL: a fuzzer's find) */
    static const char NUL_NAME[] = "SELECT \"unit\0price\" FROM order_items";
    int nul_complete = 1;
    long nul_at = sg_check_text(g, NUL_NAME, sizeof NUL_NAME - 1, &nul_complete);
    CHECK(nul_at == 12, "a NUL inside a quoted name is refused at %ld, expected 12", nul_at);
    /* completion: from prefixes, the shortest completion is a query SQLite prepares */
    static const char *const PREFIXES[] = {
        "SELECT", "SELECT name", "SELECT name FROM", "SELECT name FROM customers WHERE", "SELECT name FROM customers WHERE city =",
        "SELECT count(", "SELECT name FROM customers WHERE id IN (", "SELECT CASE", "SELECT T1.name FROM customers AS",
        "SELECT name FROM customers WHERE city = 'Par", "SELECT name FROM custo", "SELECT \"unit pr",
        "SELECT name FROM customers ORDER", "SELECT name FROM customers WHERE id BETWEEN 1", "SELECT name FROM customers c JOIN",
        "WITH x AS (SELECT 1", "SELECT name FROM customers WHERE NOT EXISTS", "SELECT CAST(",
    };
    check_completions(g, sb, PREFIXES, sizeof PREFIXES / sizeof *PREFIXES, "");
    sg_free(g);
    sc_free(&s);
    sb_close(sb);
}

/* sg_set_plain: the queries of the training data's style are accepted (and
** SQLite prepares them); each query outside it is refused by the plain
** grammar and accepted by the full one, so the refusal is the style's. */
static void plain_style(void) {
    sc_schema s = {0};
    sandbox *sb = open_ctx(SHOP, &s);
    if (!sb) { CHECK_FAIL("shop context"); return; }
    sql_grammar *full = sg_new(NULL, &s), *plain = sg_new(NULL, &s);
    if (!full || !plain) { CHECK_FAIL("out of memory"); return; }
    sg_set_plain(plain);
    static const char *const STYLE[] = {
        "SELECT T1.name , count(*) FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id GROUP BY T1.id",
        "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
        "SELECT count(*) FROM orders WHERE strftime('%Y', order_date) = '2023'",
        "SELECT name FROM products ORDER BY price DESC LIMIT 5",
        "SELECT avg(price) , max(price) FROM products WHERE category LIKE '%tea%'",
        "SELECT T3.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id JOIN order_items AS T4 ON T2.id = T4.order_id "
        "JOIN products AS T3 ON T4.product_id = T3.id AND T4.quantity = T3.id WHERE T1.city = 'Lyon'",
        "SELECT name FROM customers WHERE signup_date BETWEEN '2022-01-01' AND '2022-12-31' AND city IS NOT NULL",
        "SELECT city FROM customers EXCEPT SELECT T1.city FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id",
        "SELECT total - 1 FROM orders WHERE total * 2 > (SELECT avg(total) FROM orders)",
    };
    for (size_t i = 0; i < sizeof STYLE / sizeof *STYLE; i++) {
        int complete = 0;
        long at = sg_check_text(plain, STYLE[i], strlen(STYLE[i]), &complete);
        CHECK(at < 0 && complete, "plain style refused at %ld (complete %d): %s", at, complete, STYLE[i]);
        char why[300] = "";
        CHECK(sqlite_ok(sb, STYLE[i], why, sizeof why), "plain query SQLite refuses (%s): %s", why, STYLE[i]);
    }
    static const char *const OFF_STYLE[] = {
        "SELECT lower(name) FROM customers",                 /* a function the training data never writes */
        "SELECT name FROM customers WHERE hex(id) = '1'",
        "SELECT name FROM customers c",                      /* an alias without AS */
        "SELECT name FROM customers AS c",                   /* an alias other than T1..T9 */
        "SELECT name FROM customers AS T12",
        "SELECT name FROM customers AS t\xc3\xa9",
        "SELECT count(*) AS n FROM orders",                  /* a result alias */
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2",                                  /* JOIN with no ON */
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id > T2.customer_id",        /* ON other than a = b */
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = 3",
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id OR T1.id = 1",
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T3.id JOIN orders AS T3 ON T2.id = T3.id",
        "SELECT T1.name FROM customers AS T1 LEFT JOIN orders AS T2 ON T1.id = T2.customer_id",
        "SELECT name FROM customers , orders",
        "SELECT name FROM customers WHERE name GLOB 'A*'",
        "SELECT CASE WHEN price > 1 THEN 1 END FROM products",
        "SELECT CAST(price AS INTEGER) FROM products",
        "SELECT name  FROM customers",                       /* two blanks */
        "SELECT name\nFROM customers",
        "SELECT name || city FROM customers",
        "SELECT name FROM customers WHERE id = TRUE",
        "SELECT name FROM customers ORDER BY name COLLATE NOCASE",
    };
    for (size_t i = 0; i < sizeof OFF_STYLE / sizeof *OFF_STYLE; i++) {
        const char *q = OFF_STYLE[i];
        int complete = 0;
        long at = sg_check_text(full, q, strlen(q), &complete);
        CHECK(at < 0 && complete, "full grammar refused at %ld: %s", at, q);
        complete = 0;
        at = sg_check_text(plain, q, strlen(q), &complete);
        CHECK(at >= 0 || !complete, "plain grammar accepted an off-style query: %s", q);
    }
    /* completions stay in the style (a prefix is never a dead end) */
    static const char *const PREFIXES[] = {
        "SELECT T1.name FROM customers AS", "SELECT T1.name FROM customers AS T1 JOIN orders AS T2",
        "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id =", "SELECT count(", "SELECT name FROM customers AS T",
    };
    check_completions(plain, sb, PREFIXES, sizeof PREFIXES / sizeof *PREFIXES, "plain: ");
    sg_free(full);
    sg_free(plain);
    sc_free(&s);
    sb_close(sb);
}

/* The token budget: random walks through the mask (a token drawn uniformly
** among the allowed ones, never the end while anything else is allowed, so
** the walk never stops by itself) with budgets of 12 to 60 tokens. Every
** token the mask allows is pushed without refusal, and the reply must be a
** complete statement when the budget runs out: the steering toward the
** shortest completion is what ends it. The grammar avoids dead ends without
** proving them absent (docs/agent.md), so a few walks may still be cut off. */
static void budget_walks(sql_grammar *g, const tokenizer *tok, float *logits, int V) {
    enum { WALKS = 60 };
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int *allowed = malloc((size_t)V * sizeof *allowed);
    int cut = 0, refused = 0, steered = 0;
    static const char *const START[] = { "", "SELECT", "SELECT name FROM customers WHERE" };
    for (int w = 0; w < WALKS && allowed; w++) {
        int budget = 12 + (w * 7) % 49;
        sg_reset(g, START[w % 3]);
        char text[4096];
        size_t tl = (size_t)snprintf(text, sizeof text, "%s", START[w % 3]);
        for (int left = budget; left > 0; left--) {
            for (int i = 0; i < V; i++) logits[i] = 0;
            sg_mask(g, logits, V, left);
            int n = 0, end = -1;
            for (int id = 0; id < V; id++) {
                if (isinf(logits[id])) continue;
                if (id == tok_eos_id(tok) || id == tok_im_end_id(tok) || tok_is_special(tok, id)) end = id;
                else allowed[n++] = id;
            }
            if (!n) {
                CHECK(end >= 0, "walk %d: nothing allowed with %d tokens left (a dead end)", w, left);
                break;
            }
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int id = allowed[(rng >> 33) % (uint64_t)n];
            int nb = tok_token_bytes(tok, id, text + tl, sizeof text - tl - 1);
            if (nb > 0) tl += (size_t)nb;
            text[tl] = 0;
            if (sg_push(g, id) != 0) { refused++; break; }
        }
        if (!sg_complete(g)) {   /* show where */
            cut++;
            char *c = sg_completion(g);
            printf("cut off (budget %d, completion %s): [", budget, c ? c : "none found");
            for (const char *q = text; *q; q++) printf(*q >= 32 && *q < 127 ? "%c" : "\\x%02x", (unsigned char)*q);
            printf("]\n");
            free(c);
        }
        steered += sg_steered(g);
    }
    printf("budget walks: %d of %d complete when the budget ran out (%d steered), %d pushes refused\n", WALKS - cut, WALKS,
           steered, refused);
    CHECK(refused == 0, "%d tokens the mask allowed were refused by sg_push", refused);
    CHECK(steered > WALKS / 2, "only %d of %d walks were steered: the walks do not test the budget", steered, WALKS);
    CHECK(cut <= WALKS / 20, "%d of %d random walks cut off by the budget", cut, WALKS);
    free(allowed);
}

/* The mask over the real Qwen vocabulary agrees with sg_allows token by
** token, keeps the tokens a valid continuation needs, and allows the end
** only when the statement is complete. */
static void vocab_checks(void) {
    const char *out = getenv("OUT") && *getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[4096];
    snprintf(path, sizeof path, "%s/qwen-tokenizer.gguf", out);
    sa_err err = {{0}};
    tokenizer *tok = tok_load(path, &err);
    if (!tok) { check_skip("no Qwen tokenizer (%s): vocabulary checks", err.msg); return; }
    sc_schema s = {0};
    sandbox *sb = open_ctx(SHOP, &s);
    sql_grammar *g = sg_new(tok, &s);
    int V = tok_n_vocab(tok);
    float *logits = malloc((size_t)V * sizeof *logits);
    static const char *const AT[] = { "", "SELECT", "SELECT name FROM", "SELECT name FROM customers WHERE ci",
                                      "SELECT count(*) FROM orders", "SELECT name FROM customers WHERE city = 'P" };
    for (size_t k = 0; k < sizeof AT / sizeof *AT; k++) {
        sg_reset(g, AT[k]);
        for (int i = 0; i < V; i++) logits[i] = 0;
        int kept = sg_mask(g, logits, V, 200);
        int disagree = 0;
        for (int id = 0; id < V; id += 7) if (!isinf(logits[id]) != !!sg_allows(g, id, 200)) disagree++;
        CHECK(disagree == 0, "mask and sg_allows disagree on %d tokens after '%s'", disagree, AT[k]);
        CHECK(kept > 0, "nothing allowed after '%s'", AT[k]);
        printf("after %-45s %6d of %d tokens allowed\n", AT[k][0] ? AT[k] : "(start)", kept, V);
    }
    struct { const char *prefix, *piece; int want; } T[] = {
        { "SELECT", "Ġname", 1 }, { "SELECT", "Ġcount", 1 }, { "SELECT", "ĠWHERE", 0 }, { "SELECT name FROM customers", "Ġbanana", 0 }, { "SELECT name FROM", "Ġcustomers", 1 },
        { "SELECT name FROM", "Ġclients", 0 }, { "SELECT name FROM customers", "ĠWHERE", 1 }, { "SELECT name FROM customers", ";", 1 },
        { "SELECT name FROM customers WHERE", "Ġprice", 0 }, { "SELECT name FROM customers WHERE", "Ġcity", 1 },
        { "SELECT name FROM customers WHERE city = 'P", "aris", 1 }, { "SELECT name FROM", "<|im_end|>", 0 },
        { "SELECT name FROM customers", "<|im_end|>", 1 }, { "SELECT name FROM customers", "<|im_start|>", 0 },
    };
    for (size_t k = 0; k < sizeof T / sizeof *T; k++) {
        int id = tok_lookup(tok, T[k].piece);
        if (id < 0) { CHECK_FAIL("no token %s", T[k].piece); continue; }
        sg_reset(g, T[k].prefix);
        for (int i = 0; i < V; i++) logits[i] = 0;
        sg_mask(g, logits, V, 200);
        CHECK((!isinf(logits[id])) == T[k].want, "after '%s' token '%s' allowed %d, want %d", T[k].prefix, T[k].piece,
              !isinf(logits[id]), T[k].want);
        CHECK(sg_allows(g, id, 200) == T[k].want, "sg_allows: after '%s' token '%s' want %d", T[k].prefix, T[k].piece, T[k].want);
    }
    /* the budget: with 3 tokens left, only the way to the end (" 1") remains */
    sg_reset(g, "SELECT name FROM customers WHERE city =");
    for (int i = 0; i < V; i++) logits[i] = 0;
    int kept = sg_mask(g, logits, V, 3);
    CHECK(kept >= 1 && kept < 20, "forced completion keeps %d tokens", kept);
    /* sg_finish (a reply caught in a loop): with the whole budget left, the
    ** statement is closed along the shortest completion, token by token */
    sg_reset(g, "SELECT name FROM customers WHERE lower(lower(lower(city");
    for (int i = 0; i < V; i++) logits[i] = 0;
    CHECK(sg_mask(g, logits, V, 200) > 1000, "before sg_finish the mask is not narrow");
    sg_finish(g);
    char done[256] = "SELECT name FROM customers WHERE lower(lower(lower(city";
    size_t dl = strlen(done);
    int steps = 0;
    for (; steps < 40 && !sg_complete(g); steps++) {
        for (int i = 0; i < V; i++) logits[i] = 0;
        int n = sg_mask(g, logits, V, 200), id = -1;
        for (int i = 0; i < V && id < 0; i++) if (!isinf(logits[i])) id = i;
        if (n != 1 || id < 0) { CHECK_FAIL("after sg_finish %d tokens allowed at step %d", n, steps); break; }
        dl += (size_t)tok_token_bytes(tok, id, done + dl, sizeof done - dl - 1);
        sg_push(g, id);
    }
    done[dl] = 0;
    CHECK(sg_complete(g) && sg_steered(g), "sg_finish: not complete after %d tokens: %s", steps, done);
    int complete = 0;
    sg_reset(g, "");
    CHECK(sg_check_text(g, done, strlen(done), &complete) == -1 && complete, "sg_finish gave '%s'", done);
    printf("sg_finish: %s (%d tokens)\n", done, steps);
    budget_walks(g, tok, logits, V);
    sql_grammar *plain = sg_new(tok, &s);   /* the plain style ends its walks too */
    if (plain) {
        sg_set_plain(plain);
        printf("plain style: ");
        budget_walks(plain, tok, logits, V);
        sg_free(plain);
    }
    free(logits);
    sg_free(g);
    sc_free(&s);
    sb_close(sb);
    tok_free(tok);
}

/* ---- gold files ------------------------------------------------------------------------------ */

typedef struct gold_stats { long n, refused, refused_sqlite_ok, absent; } gold_stats;

static const char *absent_dbs = "";   /* --absent: comma-separated names */

static int known_absent(const char *db) {
    size_t n = strlen(db);
    for (const char *p = absent_dbs; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, db, n)) return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

/* --plain: the gold queries through sg_set_plain, blanks collapsed to one space
** as the training data writes them (make_schema_data.py) */
static int plain_mode;

static void check_one(sql_grammar *g, sandbox *sb, const char *sql, const char *where, gold_stats *st) {
    st->n++;
    int complete = 0;
    char flat[20000];
    if (plain_mode) {
        size_t n = 0;
        for (const char *p = sql; *p && n + 1 < sizeof flat; p++) {
            int blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
            if (blank && (n == 0 || flat[n - 1] == ' ')) continue;
            flat[n++] = blank ? ' ' : *p;
        }
        while (n && flat[n - 1] == ' ') n--;
        flat[n] = 0;
        sql = flat;
        sg_reset(g, "");
    }
    long at = sg_check_text(g, sql, strlen(sql), &complete);
    if (at < 0 && complete) return;
    st->refused++;
    char why[300] = "";
    int ok = sqlite_ok(sb, sql, why, sizeof why);
    if (ok) st->refused_sqlite_ok++;
    printf("refused %s at %ld%s [SQLite: %s]: %s\n", where, at, at < 0 ? " (incomplete)" : "", ok ? "ok" : why, sql);
}

static int gold_file(const char *file, const char *dbdir, gold_stats *st) {
    FILE *f = fopen(file, "r");
    if (!f) { printf("cannot open %s\n", file); return -1; }
    char line[20000], cur_db[512] = "";
    sandbox *sb = NULL;
    sc_schema s = {0};
    sql_grammar *g = NULL;
    int absent = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strrchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *db = tab + 1;
        if (strcmp(db, cur_db)) {
            sg_free(g);
            g = NULL;
            sc_free(&s);
            if (sb) sb_close(sb);
            sb = NULL;
            snprintf(cur_db, sizeof cur_db, "%s", db);
            char path[1024];
            snprintf(path, sizeof path, "%s/%s/%s.sqlite", dbdir, db, db);
            sa_err e = {{0}};
            absent = known_absent(db) && access(path, F_OK) != 0;
            if (absent) {
                printf("not checked: database %s (known to be absent from the data)\n", db);
                st->absent++;
                continue;
            }
            if (!(sb = sb_open_db(path, NULL, &e)) || sc_introspect(sb, 0, &s, &e)) {
                check_skip("database %s: %s", db, e.msg);
                continue;
            }
            g = sg_new(NULL, &s);
            if (g && plain_mode) sg_set_plain(g);
        }
        if (absent) st->absent++;
        if (!g) continue;
        check_one(g, sb, line, db, st);
    }
    fclose(f);
    sg_free(g);
    sc_free(&s);
    if (sb) sb_close(sb);
    return 0;
}

static int jsonl_file(const char *file, gold_stats *st) {
    FILE *f = fopen(file, "r");
    if (!f) { printf("cannot open %s\n", file); return -1; }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_t *o = json_loads(line, 0, NULL);
        const char *ctx = json_string_value(json_object_get(o, "context"));
        const char *sql = json_string_value(json_object_get(o, "answer"));
        if (!sql) sql = json_string_value(json_object_get(o, "query"));
        if (ctx && sql) {
            /* the data set joins its statements with "; " and no final ";" */
            size_t n = strlen(ctx) + 2;
            char *ddl = malloc(n);
            snprintf(ddl, n, "%s;", ctx);
            sc_schema s = {0};
            sa_err e = {{0}};
            sandbox *sb = sb_open_context(ddl, NULL, &e);
            if (sb && !sc_introspect(sb, 0, &s, &e)) {
                sql_grammar *g = sg_new(NULL, &s);
                if (g && plain_mode) sg_set_plain(g);
                char where[64];
                snprintf(where, sizeof where, "line %ld", lineno);
                check_one(g, sb, sql, where, st);
                sg_free(g);
            }
            sc_free(&s);
            if (sb) sb_close(sb);
            free(ddl);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

/* Views are named like tables: introspected with their columns, accepted by
** the grammar, their unknown columns refused. */
static void views(void) {
    char path[512];
    const char *out = getenv("OUT");
    snprintf(path, sizeof path, "%s/test_sqlgrammar_views.sqlite", out && *out ? out : "/tmp");
    unlink(path);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');"
                         "CREATE VIEW big_t AS SELECT a AS id, b AS label FROM t WHERE a > 1;"
                         "CREATE VIEW broken AS SELECT gone FROM t;", NULL, NULL, NULL) != SQLITE_OK) {
        CHECK_FAIL("views: cannot make %s", path);
        sqlite3_close(db);
        return;
    }
    sqlite3_close(db);
    sa_err e = {{0}};
    sc_schema s = {0};
    sandbox *sb = sb_open_db(path, NULL, &e);
    if (!sb || sc_introspect(sb, 0, &s, &e)) { CHECK_FAIL("views: %s", e.msg); sb_close(sb); return; }
    const sc_table *v = sc_find_table(&s, "big_t");
    CHECK(s.ntables == 2 && v && v->is_view && !s.tables[0].is_view && v->ncols == 2 && !strcmp(v->cols[1].name, "label"),
          "the view is introspected with its columns; a view that no longer compiles is left out");
    sql_grammar *g = sg_new(NULL, &s);
    int complete = 0;
    const char *q = "SELECT label FROM big_t WHERE id > 1";
    CHECK(sg_check_text(g, q, strlen(q), &complete) < 0 && complete, "a query on a view is accepted");
    char why[300] = "";
    CHECK(sqlite_ok(sb, q, why, sizeof why), "SQLite runs the query on the view (%s)", why);
    q = "SELECT T1.b, T2.label FROM t AS T1 JOIN big_t AS T2 ON T1.a = T2.id";
    CHECK(sg_check_text(g, q, strlen(q), &complete) < 0 && complete, "a view joined to a table is accepted");
    q = "SELECT label FROM big_t WHERE b = 1";
    CHECK(sg_check_text(g, q, strlen(q), &complete) >= 0, "a column the view does not have is refused");
    sg_free(g);
    sc_free(&s);
    sb_close(sb);
    unlink(path);
}

int main(int argc, char **argv) {
    long max_refused = 0;
    gold_stats st = {0};
    int gold = 0;
    for (int i = 1; i + 1 < argc; i++)   /* --absent holds for every gold file, wherever it is given */
        if (!strcmp(argv[i], "--absent")) absent_dbs = argv[i + 1];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-refused") && i + 1 < argc) max_refused = atol(argv[++i]);
        else if (!strcmp(argv[i], "--plain")) plain_mode = 1;
        else if (!strcmp(argv[i], "--absent") && i + 1 < argc) i++;
        else if (!strcmp(argv[i], "--gold") && i + 2 < argc) { gold = 1; if (gold_file(argv[i + 1], argv[i + 2], &st)) CHECK_FAIL("cannot read %s", argv[i + 1]); i += 2; }
        else if (!strcmp(argv[i], "--jsonl") && i + 1 < argc) { gold = 1; if (jsonl_file(argv[i + 1], &st)) CHECK_FAIL("cannot read %s", argv[i + 1]); i++; }
        else { printf("usage: test_sqlgrammar [--plain] [--absent DB,...] [--gold FILE DBDIR] [--jsonl FILE] [--max-refused N]\n"); return 2; }
    }
    if (gold) {
        printf("%ld queries, %ld refused (%.2f%%), %ld of them SQLite prepares", st.n, st.refused,
               st.n ? 100.0 * (double)st.refused / (double)st.n : 0.0, st.refused_sqlite_ok);
        if (st.absent) printf("; %ld more not checked (their databases are known to be absent)", st.absent);
        putchar('\n');
        CHECK(st.refused_sqlite_ok <= max_refused, "more than %ld valid queries refused", max_refused);
    } else {
        corpus();
        plain_style();
        views();
        vocab_checks();
    }
    return check_done();
}
