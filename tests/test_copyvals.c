/*
** test_copyvals.c — the value-copying mask of src/agent/copyvals.c, over the
** real Qwen2.5 vocabulary (tests/out/qwen-tokenizer.gguf): which tokens it
** allows while a value is being written, and that it leaves plain SQL and
** values outside comparisons alone. Each check feeds a reply prefix, masks a
** logits vector of zeros, and asks whether given token strings survive.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/copyvals.h"
#include "engine/tokenizer.h"
#include "sql/schema.h"

#include "check.h"

static tokenizer *tok;
static float *logits;
static int V;

/* After the reply text `prefix`, is the token `piece` (byte-level form) allowed? */
static int allowed(const char *question, const char *prefix, const char *piece) {
    int id = tok_lookup(tok, piece);
    if (id < 0) { CHECK_FAIL("no token '%s'", piece); return -1; }
    copy_vals *c = cv_new(tok, question, NULL, 0);
    cv_reset(c, prefix);
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    cv_free(c);
    return !isinf(logits[id]);
}

static int masked_count(const char *question, const char *prefix) {
    copy_vals *c = cv_new(tok, question, NULL, 0);
    cv_reset(c, prefix);
    for (int i = 0; i < V; i++) logits[i] = 0;
    int n = cv_mask(c, logits, V);
    cv_free(c);
    return n;
}

/* Schema linking: the logit a token gets after `prefix` with the columns
** question names linked at bonus 4, when the model's own best token (logit
** 1, all others 0) is `best` (0 or 1: no bonus; -inf: masked). */
static const char *best_piece = "Ġproduct";
static float value_logit(const sc_schema *s, const char *question, const char *const *held, int n_held,
                         const char *const *cols, int n_cols, const char *prefix, const char *piece, int *n_linked);
static float linked_logit(const sc_schema *s, const char *question, const char *prefix, const char *piece, int *n_linked) {
    return value_logit(s, question, NULL, 0, NULL, 0, prefix, piece, n_linked);
}

static void check_linking(void) {
    sc_column products[] = { {"product_id"}, {"product_name"}, {"unit_price"}, {"units_in_stock"} };
    sc_column orders[] = { {"order_id"}, {"order_date"}, {"status"}, {"player"} };
    sc_column employees[] = { {"employee_id"}, {"firstName"}, {"hire_date"} };
    sc_table tables[] = { {.name = "products", .cols = products, .ncols = 4}, {.name = "orders", .cols = orders, .ncols = 4},
                          {.name = "employees", .cols = employees, .ncols = 3} };
    sc_schema s = { .tables = tables, .ntables = 3 };
    int n = -1;
    const char *q = "Which product has the highest unit price?";
    CHECK(linked_logit(&s, q, "SELECT product_name FROM products ORDER BY", "Ġunit", &n) == 4.0f,
          "'unit price' links unit_price (and units_in_stock): a name starting 'unit' gains the bonus");
    CHECK(n == 2, "two columns linked, not %d (product_name: 'product' is its table's own word; keys never)", n);
    CHECK(linked_logit(&s, q, "SELECT product_name FROM products ORDER BY", "Ġproduct", NULL) == 1,
          "'product' can become product_id, which is not linked: no bonus");
    best_piece = "ĠMAX";
    CHECK(linked_logit(&s, q, "SELECT", "Ġunit", NULL) == 0 && linked_logit(&s, q, "SELECT", "ĠMAX", NULL) == 1,
          "the model's best token is a function, not a name: linking does not overrule it");
    best_piece = "Ġproduct";
    CHECK(linked_logit(&s, q, "SELECT product_name FROM products ORDER BY unit", "_price", NULL) == 0,
          "no bonus inside a name already started");
    CHECK(linked_logit(&s, q, "SELECT unit_price FROM products ORDER BY", "Ġunit", NULL) == 0,
          "unit_price written once: 'unit' no longer leads only to unused linked names");
    CHECK(linked_logit(&s, q, "SELECT product_name FROM products WHERE product_name = '", "unit", NULL) != 4.0f,
          "no bonus inside a value");
    CHECK(linked_logit(&s, "How many orders has each status?", "SELECT", "Ġstatus", &n) == 4.0f && n == 1,
          "status linked, order_date not (its 'order' is the table's own word): %d linked", n);
    CHECK(linked_logit(&s, "How many orders has each status?", "SELECT", "Ġorder", NULL) == 0, "order_date not linked");
    CHECK(linked_logit(&s, "Which status did they play in?", "SELECT", "Ġstatus", &n) == 4.0f && n == 1,
          "play is not player: only status linked (%d)", n);
    CHECK(linked_logit(&s, "How many employees were hired after 2020?", "SELECT count(*) FROM employees WHERE", "Ġhire", &n) == 4.0f &&
              n == 1, "'hired' links hire_date (%d linked)", n);
    CHECK(linked_logit(&s, "What is the first name of employee 3?", "SELECT", "Ġfirst", &n) == 4.0f && n == 1,
          "camelCase firstName linked by 'first name'; not product_name: the question names employees, not products (%d linked)", n);
    CHECK(linked_logit(&s, "What is the first name of number 3?", "SELECT", "Ġfirst", &n) == 4.0f && n == 2,
          "naming no table, 'name' links firstName and product_name (%d linked)", n);
    {   /* a word linking a column of a table the question names links no column of the others */
        sc_column dep[] = { {"department_id"}, {"name"}, {"floor"} };
        sc_column pat[] = { {"patient_id"}, {"first_name"}, {"last_name"}, {"city"} };
        sc_table t2[] = { {.name = "departments", .cols = dep, .ncols = 3}, {.name = "patients", .cols = pat, .ncols = 4} };
        sc_schema s2 = { .tables = t2, .ntables = 2 };
        best_piece = "Ġcity";
        CHECK(linked_logit(&s2, "List the names of all departments.", "SELECT", "Ġname", &n) == 4.0f && n == 1,
              "'names of all departments': departments.name alone (%d linked)", n);
        CHECK(linked_logit(&s2, "List the names of all departments.", "SELECT", "Ġfirst", NULL) == 0,
              "patients.first_name, of a table the question does not name, gains nothing");
        CHECK(linked_logit(&s2, "List the names of all patients.", "SELECT", "Ġfirst", &n) == 4.0f && n == 2,
              "'names of all patients': first_name and last_name (%d linked), not departments.name", n);
        CHECK(linked_logit(&s2, "Which patients live on the first floor?", "SELECT", "Ġfirst", &n) == 4.0f && n == 2,
              "first_name (patients, named) by 'first', and departments.floor by 'floor', which no column of a named "
              "table takes (%d linked)", n);
        best_piece = "Ġproduct";
    }
    CHECK(linked_logit(&s, "What is the product id of the cheapest product?", "SELECT", "Ġproduct", &n) == 1 && n == 0,
          "a key column is never linked (%d linked)", n);
    /* the SELECT list leans away from keys unless the question asks for an id */
    const char *qe = "Which employee was hired first?";
    best_piece = "Ġemployee";
    CHECK(linked_logit(&s, qe, "SELECT", "Ġemployee", NULL) == -3.0f, "a name leading only to a key starts the SELECT list: -bonus");
    float v1 = linked_logit(&s, qe, "SELECT T1.", "employee", NULL);
    CHECK(v1 == -4.0f, "after an alias's dot too (%g)", v1);
    CHECK(linked_logit(&s, qe, "SELECT firstName ,", "Ġemployee", NULL) == -3.0f, "after a comma of the SELECT list too");
    CHECK(linked_logit(&s, qe, "SELECT DISTINCT", "Ġemployee", NULL) == -3.0f, "after DISTINCT too");
    CHECK(linked_logit(&s, qe, "SELECT firstName FROM employees ORDER BY", "Ġemployee", NULL) == 1, "not outside the SELECT list");
    float v2 = linked_logit(&s, qe, "SELECT count(", "employee", NULL);
    CHECK(v2 == 0, "not inside a function (%g)", v2);
    CHECK(linked_logit(&s, "Which employee id was hired first?", "SELECT", "Ġemployee", NULL) == 1, "not when the question asks for an id");
    CHECK(linked_logit(&s, qe, "SELECT firstName FROM employees WHERE employee_id NOT IN (SELECT", "Ġemployee", NULL) == 1,
          "not in a subquery's SELECT list");
    CHECK(linked_logit(&s, qe, "SELECT firstName FROM employees EXCEPT SELECT", "Ġemployee", NULL) == 1,
          "not in the SELECT list after EXCEPT");
    best_piece = "Ġorder";
    CHECK(linked_logit(&s, qe, "SELECT", "Ġorder", NULL) == 1, "a start shared with a column that is no key: left alone");
    best_piece = "Ġproduct";
}

/* Value linking: as linked_logit (which calls it with none), with the spans `held` of the question
** held by the columns `cols` (cv_link_values). */
static float value_logit(const sc_schema *s, const char *question, const char *const *held, int n_held,
                         const char *const *cols, int n_cols, const char *prefix, const char *piece, int *n_linked) {
    const char *names[32];
    int n = 0;
    for (int t = 0; t < s->ntables; t++) {
        names[n++] = s->tables[t].name;
        for (int k = 0; k < s->tables[t].ncols; k++) names[n++] = s->tables[t].cols[k].name;
    }
    copy_vals *c = cv_new(tok, question, names, n);
    int linked = cv_link_columns(c, s, 4.0f);
    if (n_linked) *n_linked = linked;
    cv_link_values(c, held, n_held, cols, n_cols);
    cv_reset(c, prefix);
    for (int i = 0; i < V; i++) logits[i] = 0;
    int best = tok_lookup(tok, best_piece);
    if (best >= 0) logits[best] = 1;
    cv_mask(c, logits, V);
    cv_free(c);
    int id = tok_lookup(tok, piece);
    if (id < 0 || best < 0) { CHECK_FAIL("no token '%s' or '%s'", piece, best_piece); return NAN; }
    return logits[id];
}

static void check_value_linking(void) {
    sc_column orders[] = { {"order_id"}, {"order_date"}, {"status"}, {"ship_city"} };
    sc_table tables[] = { {.name = "orders", .cols = orders, .ncols = 4} };
    sc_schema s = { .tables = tables, .ntables = 1 };
    const char *q = "How many orders were delivered to Lyon?";
    const char *held[] = { "delivered", "Lyon" }, *cols[] = { "status", "ship_city" };
    best_piece = "Ġorder";
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE", "Ġstatus", NULL) == 4.0f,
          "in a condition, a column holding a value of the question gains the bonus");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE", "Ġorder", NULL) == 1.0f,
          "a column holding none gains nothing");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT", "Ġstatus", NULL) == 0,
          "outside a condition a value does not link its column");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders GROUP BY", "Ġstatus", NULL) == 0,
          "GROUP BY is not a condition");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = 'delivered' AND", "Ġship", NULL) == 4.0f,
          "AND opens a condition again");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = 'delivered' AND", "Ġstatus", NULL) == 0,
          "a value-linked column once written gains nothing more");
    CHECK(value_logit(&s, q, held, 2, cols, 0, "SELECT count(*) FROM orders WHERE", "Ġstatus", NULL) == 0,
          "no columns given: nothing linked");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = '", "del", NULL) == 4.0f,
          "a value starting a held span gains the bonus");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = '", "How", NULL) == 0,
          "a span of the question the database does not hold gains nothing");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = '", "ly", NULL) == 4.0f,
          "held spans match in any case");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = 'delivered", "'", NULL) == 4.0f,
          "closing the value at a held span gains the bonus");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = 'delivered", "Ġto", NULL) == 0,
          "running past a held span gains nothing");
    CHECK(value_logit(&s, q, held, 2, cols, 2, "SELECT count(*) FROM orders WHERE status = 'orders", "'", NULL) == 0,
          "closing elsewhere gains nothing");
    CHECK(value_logit(&s, q, held, 0, cols, 2, "SELECT count(*) FROM orders WHERE status = '", "del", NULL) == 0,
          "no spans given: no value bonus");
    /* coverage: linked columns written and held values quoted */
    const char *names[] = { "orders", "order_id", "order_date", "status", "ship_city" };
    copy_vals *c = cv_new(tok, q, names, 5);
    cv_link_columns(c, &s, 4.0f);
    cv_link_values(c, held, 2, cols, 2);
    cv_reset(c, "SELECT count(*) FROM orders WHERE status = 'delivered'");
    CHECK(cv_coverage(c) == 2, "a linked column and a held value: coverage %d, want 2", cv_coverage(c));
    cv_reset(c, "SELECT count(*) FROM orders WHERE order_date = 'Lyon' AND ship_city = 'to Lyon'");
    CHECK(cv_coverage(c) == 2, "a held value, a linked column, a value not held: coverage %d, want 2", cv_coverage(c));
    cv_reset(c, "SELECT count(*) FROM orders");
    CHECK(cv_coverage(c) == 0, "nothing of the question: coverage %d", cv_coverage(c));
    cv_free(c);
    best_piece = "Ġproduct";
}

/* With the database holding rows (cv_hold_values): is `piece` allowed after `prefix`,
** the spans `held` of the question held by column `col` of table t (cols a, status, city)? */
static int held_allowed(const char *question, const char *const *held, int n_held, const char *prefix, const char *piece) {
    sc_column cols[] = { {"a_id"}, {"status"}, {"city"} };
    sc_table tables[] = { {.name = "t", .cols = cols, .ncols = 3} };
    sc_schema s = { .tables = tables, .ntables = 1 };
    const char *names[] = { "t", "a_id", "status", "city" };
    const char *held_cols[] = { "status" };
    int id = tok_lookup(tok, piece);
    if (id < 0) { CHECK_FAIL("no token '%s'", piece); return -1; }
    copy_vals *c = cv_new(tok, question, names, 4);
    cv_link_columns(c, &s, 4.0f);
    cv_link_values(c, held, n_held, held_cols, n_held ? 1 : 0);
    cv_hold_values(c);
    cv_reset(c, prefix);
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    cv_free(c);
    return !isinf(logits[id]);
}

static void check_held_values(void) {
    const char *q = "How many orders were delivered to the Lyon office?";
    const char *held[] = { "delivered" };
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status = '", "del") == 1, "a held span may be written");
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status = '", "Ly") == 0,
          "a span of the question the database does not hold may not");
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status = 'delivered", "'") == 1, "closed at the held span");
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status = 'deliver", "'") == 0, "not closed inside it");
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status != '", "del") == 1 &&
              held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE status <> '", "Ly") == 0,
          "!= and <> are equalities too");
    CHECK(held_allowed(q, held, 1, "SELECT count(*) FROM t WHERE city < '", "Ly") == 1,
          "an order comparison (<) keeps every span of the question (dates, names in order)");
    CHECK(held_allowed(q, NULL, 0, "SELECT count(*) FROM t WHERE status =", "Ġ'") == 0,
          "no held span at all: no quoted value after =");
    CHECK(held_allowed(q, NULL, 0, "SELECT count(*) FROM t WHERE status =", "Ġstatus") == 1, "a name may follow instead");
    CHECK(allowed(q, "SELECT count(*) FROM t WHERE status = '", "Ly") == 1, "without cv_hold_values any span of the question may be written");
}

int main(void) {
    const char *out = getenv("OUT") && *getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[4096];
    snprintf(path, sizeof path, "%s/qwen-tokenizer.gguf", out);
    sa_err err = {{0}};
    if (!(tok = tok_load(path, &err))) { check_skip("no tokenizer fixture (tests/fixtures.sh): %s", err.msg); return check_done(); }
    V = tok_n_vocab(tok);
    logits = malloc((size_t)V * sizeof *logits);

    const char *q = "What school did Dwight Howard play for in 1,995?";
    /* plain SQL is never masked */
    CHECK(masked_count(q, "SELECT school FROM t WHERE player") == 0, "masked outside a value");
    CHECK(masked_count(q, "SELECT \"school") == 0, "masked inside a quoted name");
    /* after an operator: a quote, a digit of the question or any continuation is fine */
    CHECK(allowed(q, "SELECT s FROM t WHERE player = ", "\"") == 1, "opening quote");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"", "D") == 1, "first letter of a word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"", "g") == 0, "value starting inside a word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"", "dw") == 1, "two letters, lower case");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"Dwight", "ĠHoward") == 1, "next word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"Dwight", "ĠHow") == 1 && allowed(q, "SELECT s FROM t WHERE player = \"Dwight How", "ward") == 0, "misspelt word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"dwight", "Ġho") == 1, "all lower case");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"dwight", "ĠHoward") == 1, "any case");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"Dwight Howard", "\"") == 1, "closing after a whole word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"Dwight Howard", "\";") == 1, "closing quote with ';'");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"Dwight How", "\"") == 0, "closing inside a word");
    CHECK(allowed(q, "SELECT s FROM t WHERE player = \"", "\"") == 0, "empty value");
    CHECK(allowed(q, "SELECT s FROM t WHERE player LIKE '", "D") == 1, "LIKE value");
    CHECK(allowed(q, "SELECT s FROM t WHERE player LIKE '", "X") == 0, "LIKE value not in the question");
    /* numbers: digits of the question, separators removed, whole numbers */
    CHECK(allowed(q, "SELECT s FROM t WHERE year = ", "1") == 1, "first digit");
    CHECK(allowed(q, "SELECT s FROM t WHERE year = 19", "9") == 1, "1,995 read as 1995");
    CHECK(allowed(q, "SELECT s FROM t WHERE year = ", "7") == 0, "digit not in the question");
    CHECK(allowed(q, "SELECT s FROM t WHERE year = 19", ";") == 0, "number ended inside 1995");
    CHECK(allowed(q, "SELECT s FROM t WHERE year = 1995", ";") == 1, "whole number ended");
    CHECK(allowed(q, "SELECT s FROM t WHERE year > ", "1") == 1, "after >");
    /* nothing in the question fits: the model is left free rather than stuck */
    CHECK(masked_count("", "SELECT s FROM t WHERE player = \"") == 0, "empty question: nothing masked");
    /* special tokens are never masked */
    int eos = tok_lookup(tok, "<|endoftext|>");
    copy_vals *c = cv_new(tok, q, NULL, 0);
    cv_reset(c, "SELECT s FROM t WHERE player = \"D");
    for (int i = 0; i < V; i++) logits[i] = 0;
    CHECK(cv_mask(c, logits, V) > 1000, "most tokens masked inside a value");
    CHECK(eos >= 0 && !isinf(logits[eos]), "end token masked");
    /* cv_push follows generated ids like cv_reset follows text */
    cv_reset(c, "SELECT s FROM t WHERE player = ");
    cv_push(c, tok_lookup(tok, "\""));
    cv_push(c, tok_lookup(tok, "D"));
    cv_push(c, tok_lookup(tok, "w"));
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    CHECK(!isinf(logits[tok_lookup(tok, "ight")]) && isinf(logits[tok_lookup(tok, "ayne")]), "after pushing ids");
    cv_free(c);

    /* names: words outside values must be the schema's, keywords or aliases */
    const char *names[] = { "table_name_81", "college", "pick__number" };
    c = cv_new(tok, q, names, 3);
    for (int k = 0; k < 2; k++) {
        const char *prefix = k ? "SELECT MAX(pick" : "SELECT MAX(";
        cv_reset(c, prefix);
        for (int i = 0; i < V; i++) logits[i] = 0;
        cv_mask(c, logits, V);
        if (!k) {
            CHECK(!isinf(logits[tok_lookup(tok, "pick")]) && isinf(logits[tok_lookup(tok, "games")]) &&
                      !isinf(logits[tok_lookup(tok, "col")]) && !isinf(logits[tok_lookup(tok, "T")]),
                  "a name must start a schema name, a keyword or an alias");
        } else {
            CHECK(!isinf(logits[tok_lookup(tok, "__")]) && isinf(logits[tok_lookup(tok, ")")]) &&
                      isinf(logits[tok_lookup(tok, "ing")]), "'pick' is only a prefix: it must go on as pick__number");
        }
    }
    cv_reset(c, "SELECT college FROM table_name_81 AS");
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    CHECK(isinf(logits[tok_lookup(tok, "Ġfoo")]) && !isinf(logits[tok_lookup(tok, "ĠT")]) && !isinf(logits[tok_lookup(tok, "Ġt")]),
          "the word after AS is an alias t1, t2, ...");
    cv_reset(c, "SELECT college FROM table_name_81 AS T");
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    CHECK(!isinf(logits[tok_lookup(tok, "1")]) && isinf(logits[tok_lookup(tok, "ROUP")]), "an alias is t and digits");
    cv_free(c);

    /* case: a name as the schema spells it or in one case throughout; a keyword in one case */
    const char *spelled[] = { "Unit_Price", "loans" };
    c = cv_new(tok, q, spelled, 2);
    struct { const char *prefix, *piece; int ok; const char *what; } cases[] = {
        { "SELECT max(", "Unit", 1, "the schema's spelling" },
        { "SELECT max(", "unit", 1, "lower case" },
        { "SELECT max(", "UNIT", 1, "upper case" },
        { "SELECT max(Unit_", "price", 0, "the spelling left for one case midway (Unit_price)" },
        { "SELECT max(Unit_", "Price", 1, "the spelling kept" },
        { "SELECT max(unit_", "Price", 0, "lower case left for the spelling midway" },
        { "SELECT * FROM l", "O", 0, "lO(ANS)" },
        { "SELECT * FROM L", "O", 1, "LO(ANS)" },
        { "SELECT * FROM loans WHERE loans IS NULL ", "AND", 1, "a keyword in upper case" },
        { "SELECT * FROM loans ", "Where", 0, "a keyword in mixed case" },
        { "SELECT * FROM loans WHERE loans IS NULL l", "IMIT", 0, "lIMIT" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int id = tok_lookup(tok, cases[i].piece);
        if (id < 0) { CHECK_FAIL("no token '%s'", cases[i].piece); continue; }
        cv_reset(c, cases[i].prefix);
        for (int k = 0; k < V; k++) logits[k] = 0;
        cv_mask(c, logits, V);
        CHECK((isinf(logits[id]) != 0) == !cases[i].ok, "%s: '%s' + '%s' %s", cases[i].what, cases[i].prefix, cases[i].piece,
              cases[i].ok ? "refused" : "allowed");
    }
    cv_free(c);
    /* a value's words keep one shape, unless spelled as in the question */
    const char *qv = "Which books did harry hall and Ray McDonald borrow?";
    CHECK(allowed(qv, "SELECT 1 WHERE n = 'Harry", "ĠHall") == 1, "Capitalized words");
    CHECK(allowed(qv, "SELECT 1 WHERE n = 'HARRY", "ĠHAL") == 1, "upper-case words");
    CHECK(allowed(qv, "SELECT 1 WHERE n = 'HAR", "ry") == 0, "HARry");
    CHECK(allowed(qv, "SELECT 1 WHERE n = 'Ray Mc", "Donald") == 1, "the question's own spelling (McDonald)");
    CHECK(allowed(qv, "SELECT 1 WHERE n = 'ray mc", "Donald") == 0, "mcDonald");
    c = cv_new(tok, q, names, 3);
    cv_reset(c, "SELECT T1.college FROM table_name_81 WHERE college = ");
    for (int i = 0; i < V; i++) logits[i] = 0;
    cv_mask(c, logits, V);
    CHECK(!isinf(logits[tok_lookup(tok, "\"")]) && !isinf(logits[tok_lookup(tok, "ĠT")]), "values after the names");
    cv_free(c);

    check_linking();
    check_value_linking();
    check_held_values();

    free(logits);
    tok_free(tok);
    return check_done();
}
