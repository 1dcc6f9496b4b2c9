/*
** copyvals.c — decoding that copies the SQL's values from the question (see
** copyvals.h). A byte-level state machine follows the reply; a candidate
** token is run through a copy of it and masked when a value it writes stops
** being a span of the question.
*/
#include "copyvals.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CV_MAX 256   /* longest value followed; longer ones are left alone */

enum { CV_OUT, CV_AFTER_OP, CV_IN_VALUE, CV_IN_QUOTED_NAME, CV_IN_NUMBER };

#define CV_WORD 64   /* longest name followed; longer ones are left alone */

typedef struct cv_state {
    int mode;
    char quote;            /* CV_IN_VALUE / CV_IN_QUOTED_NAME: the closing quote */
    int word_len;          /* > CV_WORD: too long to follow */
    int len;               /* of buf */
    int cond;              /* the last clause word read opens a condition (WHERE, AND, OR, NOT) */
    int in_select;         /* between the first SELECT and its FROM */
    int item;              /* where an item of that SELECT list starts (after SELECT, DISTINCT, a comma, an alias's dot) */
    int seen_from;         /* a FROM was read: later SELECT lists (subqueries, EXCEPT) must match their use */
    int op_order;          /* the operator being read is <, >, <= or >= (not an equality) */
    int held_only;         /* the value being read must be a span the database holds (cv_hold_values) */
    /* The buffers last: fork_state copies every member above and only the
    ** used part of these (nothing reads past word_len or len). */
    char word[CV_WORD];    /* CV_OUT: the word being read, lower case */
    char raw[CV_WORD];     /* CV_OUT: the same word as written */
    char buf[CV_MAX];      /* CV_IN_VALUE / CV_IN_NUMBER: the value so far */
} cv_state;

/* *d = *s as far as anything reads it: cv_mask tries every token of the
** vocabulary from the current state, and copying the whole 400-byte state
** for each was a few percent of a decode step. */
static void fork_state(cv_state *d, const cv_state *s) {
    memcpy(d, s, offsetof(cv_state, word));
    size_t w = s->word_len < CV_WORD ? (size_t)s->word_len : CV_WORD;
    memcpy(d->word, s->word, w);
    memcpy(d->raw, s->raw, w);
    memcpy(d->buf, s->buf, (size_t)s->len);
}

struct copy_vals {
    const tokenizer *tok;
    char *question;        /* as written */
    char *lower;           /* lower-cased (WikiSQL-style data lower-cases some values) */
    size_t qlen;
    char *digits;          /* the question without ',' (1,780 -> 1780) */
    size_t dlen;
    char **words;          /* names allowed outside values (keywords + schema), lower case, sorted; NULL: any */
    char **spelled;        /* words[i] as the schema spells it (keywords: lower case) */
    int n_words;
    unsigned char *linked; /* words[i] is a column the question names (cv_link_columns); NULL: none */
    unsigned char *used;   /* linked words[i] already written in this reply: no more bonus */
    unsigned char *schema_name; /* words[i] is a table or column, not only a keyword */
    unsigned char *value_linked; /* words[i] is a column holding a span of the question (cv_link_values) */
    unsigned char *key_col;      /* words[i] is a key column (last word id) of some table */
    unsigned char *plain_col;    /* words[i] is a column of some table that is not a key */
    int asks_id;           /* the question says id(s) or identifier(s) */
    char **held;           /* spans of the question the database holds (cv_link_values), lower case */
    int n_held;
    int held_written;      /* quoted values of this reply that are held spans */
    int hold_values;       /* cv_hold_values: values compared for equality must be held spans */
    float link_bonus;      /* added to a token that starts only linked names */
    cv_state st;
};

/* SQL keywords and functions a query may use besides the schema's names. */
static const char *const SQL_WORDS[] = {
    "abs", "all", "and", "as", "asc", "avg", "between", "by", "case", "cast", "coalesce", "collate", "count",
    "cross", "current_date", "date", "datetime", "desc", "distinct", "else", "end", "escape", "except", "exists",
    "false", "from", "glob", "group", "having", "ifnull", "in", "inner", "instr", "integer", "intersect", "is",
    "join", "julianday", "left", "length", "like", "limit", "lower", "max", "min", "natural", "nocase", "not",
    "null", "offset", "on", "or", "order", "outer", "real", "replace", "round", "select", "strftime", "substr",
    "sum", "text", "then", "total", "trim", "true", "union", "upper", "using", "values", "varchar", "when",
    "where", "with",
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The letters of w[0..n) are all lower case, all upper case, or (cap) an
** upper-case letter then lower case ones. Mixed case ("HARry", "lOANS") is
** how a small model spells a word it has lost the thread of, never how data
** writes it. */
static int case_shape(const char *w, int n, int cap) {
    int up = 0, low = 0, first = -1;
    for (int i = 0; i < n; i++) {
        unsigned char u = (unsigned char)w[i];
        if (!isalpha(u)) continue;
        if (first < 0) { first = i; continue; }
        if (isupper(u)) up = 1; else low = 1;
    }
    if (first < 0) return 1;
    int first_up = isupper((unsigned char)w[first]) != 0;
    if (!up && !low) return 1;
    if (up && low) return 0;
    return up ? first_up : (!first_up || cap);
}

/* Aliases the way text-to-SQL data writes them: t1, t2, ... */
static int alias_word(const char *w, int n) {
    if (n < 1 || w[0] != 't') return 0;
    for (int i = 1; i < n; i++) if (!isdigit((unsigned char)w[i])) return 0;
    return 1;
}

/* The index of the first allowed word >= w[0..n) (words is sorted): the
** words starting w[0..n) follow it. */
static int first_with_prefix(const copy_vals *c, const char *w, int n) {
    int lo = 0, hi = c->n_words;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strncmp(c->words[mid], w, (size_t)n) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Is w[0..n) (raw: as written) a prefix of an allowed word (whole: an
** allowed word)? A name is written as the schema spells it, or in one case
** throughout; a keyword in one case. */
static int word_allowed(const copy_vals *c, const char *w, const char *raw, int n, int whole) {
    if (!c->words || n > CV_WORD) return 1;
    if (alias_word(w, n)) return 1;
    int lo = first_with_prefix(c, w, n);
    int one_case = case_shape(raw, n, 0);
    for (int i = lo; i < c->n_words && strncmp(c->words[i], w, (size_t)n) == 0; i++) {
        if (whole && c->words[i][n] != 0) continue;
        if (one_case || strncmp(c->spelled[i], raw, (size_t)n) == 0) return 1;
    }
    return 0;
}

static int word_char(char ch) { return isalnum((unsigned char)ch) || ((unsigned char)ch & 0x80); }

/* Is s[0..n) a span of hay that starts where a word (or number) starts and,
** when whole, also ends where one ends? Values are whole words of the
** question: "smith" of "steve smith", never "mith". */
static int is_span(const char *hay, size_t hay_len, const char *s, int n, int whole) {
    if (n == 0) return 1;
    for (const char *p = hay; (size_t)(p - hay) + (size_t)n <= hay_len; p++) {
        p = memmem(p, hay_len - (size_t)(p - hay), s, (size_t)n);
        if (!p) return 0;
        if (p > hay && word_char(p[-1]) && word_char(s[0])) continue;
        if (whole && (size_t)(p - hay) + (size_t)n < hay_len && word_char(p[n]) && word_char(s[n - 1])) continue;
        return 1;
    }
    return 0;
}

/* The value so far, a span of the question in any case: data sets write a
** value as the table holds it ("Ruben Hinojosa") whatever the question's
** case ("ruben hinojosa"), or lower-case it. Each word keeps one shape
** (lower, UPPER, Capitalized) unless the value is the question's own
** spelling ("McDonald"). */
static int value_span(const copy_vals *c, const cv_state *s, int whole) {
    if (s->len <= 0) return 1;
    char low[CV_MAX];
    low[0] = 0;
    for (int i = 0; i < s->len; i++) low[i] = (char)tolower((unsigned char)s->buf[i]);
    if (!is_span(c->lower, c->qlen, low, s->len, whole)) return 0;
    for (int i = 0; i < s->len;) {
        int j = i;
        while (j < s->len && word_char(s->buf[j])) j++;
        if (j > i && !case_shape(s->buf + i, j - i, 1)) return is_span(c->question, c->qlen, s->buf, s->len, whole);
        i = j + (j == i);
    }
    return 1;
}

/* The clause a word leaves the reply in: a condition after WHERE, AND, OR
** and NOT (NOT IN, NOT LIKE), anything else after the other clause words;
** other words (names, IN, LIKE, functions) keep the clause they are in. */
static int clause_after(const char *w, int n, int cond) {
    static const char *const OPEN[] = { "where", "and", "or", "not" };
    static const char *const CLOSE[] = { "select", "from", "join", "on", "group", "order", "having", "limit",
                                         "union", "except", "intersect" };
    for (size_t i = 0; i < sizeof OPEN / sizeof *OPEN; i++)
        if ((int)strlen(OPEN[i]) == n && !memcmp(w, OPEN[i], (size_t)n)) return 1;
    for (size_t i = 0; i < sizeof CLOSE / sizeof *CLOSE; i++)
        if ((int)strlen(CLOSE[i]) == n && !memcmp(w, CLOSE[i], (size_t)n)) return 0;
    return cond;
}

/* Follows where an item of the query's first SELECT list starts as a word
** w[0..n) ends: after SELECT and DISTINCT (and commas, in step), through an
** alias and its dot (T1.name); any other word ends it. Only the first list:
** a subquery's (NOT IN (SELECT key ...)) or a second SELECT's after EXCEPT
** answers to how it is used, not to the question. */
static void select_item(cv_state *s, const char *w, int n) {
    if (n == 6 && !memcmp(w, "select", 6)) s->in_select = s->item = !s->seen_from;
    else if (n == 8 && !memcmp(w, "distinct", 8)) s->item = s->in_select;
    else if (!alias_word(w, n)) s->item = 0;
    if (n == 4 && !memcmp(w, "from", 4)) s->in_select = 0, s->seen_from = 1;
}

static int held_value(const copy_vals *c, const char *buf, int len, int whole);

/* Feeds one byte; returns 0 when it breaks a copied value. */
static int step(const copy_vals *c, cv_state *s, char ch) {
    unsigned char u = (unsigned char)ch;
    switch (s->mode) {
    case CV_IN_VALUE:
        if (ch == s->quote) {
            if (s->len == 0) return 0;            /* an empty value copies nothing */
            if (!value_span(c, s, 1)) return 0;
            if (s->held_only && !held_value(c, s->buf, s->len, 1)) return 0;
            s->mode = CV_OUT;
            s->word_len = 0;
            return 1;
        }
        if (s->len >= CV_MAX) { s->mode = CV_IN_QUOTED_NAME; return 1; }
        s->buf[s->len++] = ch;
        if (s->held_only && !held_value(c, s->buf, s->len, 0)) return 0;
        return value_span(c, s, 0);
    case CV_IN_QUOTED_NAME:
        if (ch == s->quote) { s->mode = CV_OUT; s->word_len = 0; }
        return 1;
    case CV_IN_NUMBER:
        if (isdigit(u) || ch == '.') {
            if (s->len >= CV_MAX) return 1;
            s->buf[s->len++] = ch;
            return is_span(c->digits, c->dlen, s->buf, s->len, 0);
        }
        if (s->len > 0 && !is_span(c->digits, c->dlen, s->buf, s->len, 1)) return 0;
        s->mode = CV_OUT;
        s->word_len = 0;
        return step(c, s, ch);
    case CV_AFTER_OP:
        if (ch == '>' && s->op_order) { s->op_order = 0; return 1; }   /* "<>" */
        if (ch == ' ' || ch == '=' || ch == '>') return 1;   /* "= ", "<=", ">=" */
        if (ch == '\'' || ch == '"') {
            s->held_only = c->hold_values && !s->op_order;
            if (s->held_only && !c->n_held) return 0;   /* no span of the question is held: no value to compare with */
            s->mode = CV_IN_VALUE; s->quote = ch; s->len = 0; return 1;
        }
        if (isdigit(u)) { s->mode = CV_IN_NUMBER; s->len = 0; return step(c, s, ch); }
        if (ch == '-') return 1;                               /* a sign */
        s->mode = CV_OUT;
        s->word_len = 0;
        return step(c, s, ch);
    default: /* CV_OUT */
        if (isalpha(u) || ch == '_' || (s->word_len > 0 && isdigit(u))) {
            if (s->word_len < CV_WORD) {
                s->word[s->word_len] = (char)tolower(u);
                s->raw[s->word_len] = ch;
            }
            s->word_len++;
            return word_allowed(c, s->word, s->raw, s->word_len, 0);
        }
        if (s->word_len > 0) {                  /* a word ends here */
            int n = s->word_len, ok = word_allowed(c, s->word, s->raw, n, 1);
            int like = n == 4 && !memcmp(s->word, "like", 4);
            s->word_len = 0;
            if (n <= CV_WORD) {
                s->cond = clause_after(s->word, n, s->cond);
                select_item(s, s->word, n);
            }
            if (!ok) return 0;
            if (like) { s->mode = CV_AFTER_OP; s->op_order = 0; return step(c, s, ch); }
        }
        if (ch == ',' && s->in_select) s->item = 1;
        else if (ch != ' ' && ch != '.' && !isalpha(u) && ch != '_') s->item = 0;
        if (ch == '=' || ch == '<' || ch == '>' || ch == '!') { s->mode = CV_AFTER_OP; s->op_order = ch == '<' || ch == '>'; return 1; }
        if (ch == '"' || ch == '`' || ch == '[') {
            s->mode = CV_IN_QUOTED_NAME;
            s->quote = ch == '[' ? ']' : ch;
            return 1;
        }
        if (ch == '\'') { s->mode = CV_IN_QUOTED_NAME; s->quote = '\''; return 1; }   /* not after an operator */
        return 1;
    }
}

/* ---- schema linking ---------------------------------------------------- */

/* Splits a name into lower-case words at '_', blanks, digits and camelCase
** ("unitPrice", "unit_price" -> "unit", "price"). Returns the count. */
#define CV_LINK_WORDS 8
static int name_words(const char *name, char out[][CV_WORD]) {
    int n = 0, len = 0;
    for (const char *p = name;; p++) {
        unsigned char u = (unsigned char)*p;
        int boundary = !u || !isalpha(u) || (isupper(u) && len > 0 && p > name && islower((unsigned char)p[-1]));
        if (boundary && len > 0) {
            out[n][len] = 0;
            if (++n == CV_LINK_WORDS) return n;
            len = 0;
        }
        if (!u) return n;
        if (isalpha(u) && len < CV_WORD - 1) out[n][len++] = (char)tolower(u);
    }
}

/* Two words name the same thing when one is the other plus an inflection
** (unit/units, hire/hired, status/statuses, page/pages, pay/paying), or
** they differ only in such endings after five common letters
** (category/categories). Not a derivation: play is not player. */
static int inflection(const char *end) {
    static const char *const ENDINGS[] = { "", "s", "es", "d", "ed", "ing", "y", "ies", "e" };
    for (size_t i = 0; i < sizeof ENDINGS / sizeof *ENDINGS; i++) if (!strcmp(end, ENDINGS[i])) return 1;
    return 0;
}
static int same_word(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), p = 0;
    while (p < la && p < lb && a[p] == b[p]) p++;
    if (p < 3) return 0;
    if (p == la || p == lb) return inflection(p == la ? b + p : a + p);
    return p >= 5 && inflection(a + p) && inflection(b + p);
}

/* Words that say nothing about which column is meant. */
static int filler_word(const char *w) {
    static const char *const FILLER[] = { "id", "ids", "of", "in", "the", "a", "an", "at", "by", "to", "is", "on",
                                          "for", "and", "or", "no", "num", "number" };
    if (strlen(w) < 2) return 1;
    for (size_t i = 0; i < sizeof FILLER / sizeof *FILLER; i++) if (!strcmp(w, FILLER[i])) return 1;
    return 0;
}

/* Which words of the question (qw[0..nq), at most 64) name column col of a
** table called table: bit k for qw[k]. Some word of the column other than
** filler and the table's own name must be a word of the question; a key
** column (last word "id") is never linked: a question rarely asks for one. */
static uint64_t column_named(const char *col, const char *table, char qw[][CV_WORD], int nq) {
    char cw[CV_LINK_WORDS][CV_WORD], tw[CV_LINK_WORDS][CV_WORD];
    int nc = name_words(col, cw), nt = name_words(table, tw);
    uint64_t via = 0;
    if (nc == 0 || !strcmp(cw[nc - 1], "id") || !strcmp(cw[nc - 1], "ids")) return 0;
    for (int i = 0; i < nc; i++) {
        if (filler_word(cw[i])) continue;
        int own = 0;
        for (int k = 0; k < nt && !own; k++) own = same_word(cw[i], tw[k]);
        if (own) continue;
        for (int k = 0; k < nq && k < 64; k++) if (same_word(cw[i], qw[k])) via |= (uint64_t)1 << k;
    }
    return via;
}

/* Does the question name the table: is some word of its name (not filler)
** a word of the question? */
static int table_named(const char *table, char qw[][CV_WORD], int nq) {
    char tw[CV_LINK_WORDS][CV_WORD];
    int nt = name_words(table, tw);
    for (int i = 0; i < nt; i++) {
        if (filler_word(tw[i])) continue;
        for (int k = 0; k < nq; k++) if (same_word(tw[i], qw[k])) return 1;
    }
    return 0;
}

/* Sets flags[i] for every words[i] that is w[0..n) (lower case) and, when
** only is given, has only[i] set; returns how many were newly set. */
static int flag_word(const copy_vals *c, unsigned char *flags, const unsigned char *only, const char *w, int n) {
    int set = 0;
    for (int i = first_with_prefix(c, w, n); i < c->n_words && strncmp(c->words[i], w, (size_t)n) == 0; i++)
        if (!c->words[i][n] && (!only || only[i]) && !flags[i]) { flags[i] = 1; set++; }
    return set;
}

/* flag_word for a table or column name as the schema spells it. */
static int mark_name(const copy_vals *c, unsigned char *flags, const char *name) {
    char low[CV_WORD];
    size_t l = strlen(name);
    if (l >= CV_WORD) return 0;
    for (size_t i = 0; i < l; i++) low[i] = (char)tolower((unsigned char)name[i]);
    return flag_word(c, flags, NULL, low, (int)l);
}

int cv_link_columns(copy_vals *c, const sc_schema *schema, float bonus) {
    if (!c->words || !schema || bonus == 0) return 0;
    enum { QW_MAX = 64 };
    char qw[QW_MAX][CV_WORD];
    int nq = 0, len = 0;
    for (const char *p = c->lower;; p++) {
        if (isalnum((unsigned char)*p) && len < CV_WORD - 1) { qw[nq][len++] = *p; continue; }
        if (len > 0) { qw[nq][len] = 0; len = 0; if (++nq == QW_MAX) break; }
        if (!*p) break;
    }
    free(c->linked);
    free(c->used);
    free(c->schema_name);
    free(c->key_col);
    free(c->plain_col);
    c->linked = calloc((size_t)c->n_words, 1);
    c->used = calloc((size_t)c->n_words, 1);
    c->schema_name = calloc((size_t)c->n_words, 1);
    c->key_col = calloc((size_t)c->n_words, 1);
    c->plain_col = calloc((size_t)c->n_words, 1);
    if (!c->linked || !c->used || !c->schema_name || !c->key_col || !c->plain_col) {   /* out of memory: decode without linking */
        free(c->linked);
        free(c->used);
        free(c->schema_name);
        free(c->key_col);
        free(c->plain_col);
        c->linked = c->used = c->schema_name = c->key_col = c->plain_col = NULL;
        return 0;
    }
    c->asks_id = 0;
    for (int k = 0; k < nq; k++)
        c->asks_id |= !strcmp(qw[k], "id") || !strcmp(qw[k], "ids") || !strcmp(qw[k], "identifier") || !strcmp(qw[k], "identifiers");
    for (int t = 0; t < schema->ntables; t++)
        for (int k = 0; k < schema->tables[t].ncols; k++) {
            char cw[CV_LINK_WORDS][CV_WORD];
            int nw = name_words(schema->tables[t].cols[k].name, cw);
            int key = nw > 0 && (!strcmp(cw[nw - 1], "id") || !strcmp(cw[nw - 1], "ids"));
            mark_name(c, key ? c->key_col : c->plain_col, schema->tables[t].cols[k].name);
        }
    for (int t = 0; t < schema->ntables; t++)
        for (int k = -1; k < schema->tables[t].ncols; k++)
            mark_name(c, c->schema_name, k < 0 ? schema->tables[t].name : schema->tables[t].cols[k].name);
    /* A word that names a column of a table the question names links only
    ** such columns: "the names of all departments" is departments.name, not
    ** the first_name of patients, which the question does not name. */
    uint64_t in_named = 0;
    for (int t = 0; t < schema->ntables; t++)
        if (table_named(schema->tables[t].name, qw, nq))
            for (int k = 0; k < schema->tables[t].ncols; k++)
                in_named |= column_named(schema->tables[t].cols[k].name, schema->tables[t].name, qw, nq);
    int n = 0;
    for (int t = 0; t < schema->ntables; t++) {
        int named = table_named(schema->tables[t].name, qw, nq);
        for (int k = 0; k < schema->tables[t].ncols; k++) {
            const char *col = schema->tables[t].cols[k].name;
            uint64_t via = column_named(col, schema->tables[t].name, qw, nq);
            if (!named) via &= ~in_named;
            if (via) n += mark_name(c, c->linked, col);
        }
    }
    c->link_bonus = bonus;
    return n;
}

/* Is buf[0..len) (any case) a held span (whole) or the start of one? */
static int held_value(const copy_vals *c, const char *buf, int len, int whole) {
    for (int i = 0; i < c->n_held; i++) {
        int k = 0;
        while (k < len && c->held[i][k] && tolower((unsigned char)buf[k]) == c->held[i][k]) k++;
        if (k == len && (!whole || !c->held[i][k])) return 1;
    }
    return 0;
}

void cv_hold_values(copy_vals *c) { c->hold_values = 1; }

int cv_link_values(copy_vals *c, const char *const *spans, int n_spans, const char *const *cols, int n_cols) {
    if (!c->linked) return 0;
    if (!c->value_linked && !(c->value_linked = calloc((size_t)c->n_words, 1))) return 0;
    char **held = n_spans > 0 ? realloc(c->held, (size_t)(c->n_held + n_spans) * sizeof *held) : c->held;
    if (n_spans > 0 && !held) return 0;
    c->held = held;
    for (int i = 0; i < n_spans; i++) {
        size_t l = strlen(spans[i]);
        char *low = malloc(l + 1);
        if (!low) break;
        for (size_t k = 0; k <= l; k++) low[k] = (char)tolower((unsigned char)spans[i][k]);
        c->held[c->n_held++] = low;
    }
    int n = 0;
    for (int i = 0; i < n_cols; i++) n += mark_name(c, c->value_linked, cols[i]);
    return n;
}

/* Does a name that starts w[0..n) lead only to unused linked columns (and
** to at least one)? A start shared with an unlinked table or column takes
** no bonus. In a condition (cond), the columns holding a value of the
** question count as linked too. */
static int starts_only_linked(const copy_vals *c, const char *w, int n, int cond) {
    int lo = first_with_prefix(c, w, n);
    int any = 0;
    for (int i = lo; i < c->n_words && strncmp(c->words[i], w, (size_t)n) == 0; i++) {
        if (!c->schema_name[i]) continue;   /* a keyword: add_link_bonus only acts where the model writes a name */
        int linked = c->linked[i] || (cond && c->value_linked && c->value_linked[i]);
        if (!linked || c->used[i]) return 0;
        any = 1;
    }
    return any;
}

/* The name a token starts at a word boundary, lower case, into w (0: none);
** *cond: whether that name stands in a condition, *item: whether it starts
** an item of the SELECT list. */
static int token_starts_name(const copy_vals *c, const char *b, size_t n, char *w, int *cond, int *item) {
    cv_state s;
    fork_state(&s, &c->st);
    int len = 0, started = 0;
    for (size_t i = 0; i < n; i++) {
        int before = s.mode == CV_OUT ? s.word_len : -1;
        if (!step(c, &s, b[i])) return 0;
        if (s.mode != CV_OUT) { if (started) break; continue; }
        if (!started && before <= 0 && s.word_len == 1 && isalpha((unsigned char)b[i])) {
            started = 1;
            *cond = s.cond;
            *item = s.item;
        }
        else if (started && s.word_len != len + 1) break;
        if (started && len < CV_WORD - 1) w[len++] = (char)tolower((unsigned char)b[i]);
    }
    return len;
}

/* Does w[0..n) start a key column and no other column? A question that
** does not ask for an id wants something a reader knows a row by ("Which
** product ..." -> its name), so the SELECT list leans away from keys:
** Spider dev's gold queries start their SELECT list with a key for 3 of
** 829 questions that do not say "id". */
static int starts_only_key(const copy_vals *c, const char *w, int n) {
    int key = 0;
    for (int i = first_with_prefix(c, w, n); i < c->n_words && strncmp(c->words[i], w, (size_t)n) == 0; i++) {
        if (c->plain_col[i]) return 0;
        key |= c->key_col[i];
    }
    return key;
}

/* Is some schema name (not only a keyword) started by w[0..n)? */
static int starts_schema_name(const copy_vals *c, const char *w, int n) {
    int lo = first_with_prefix(c, w, n);
    for (int i = lo; i < c->n_words && strncmp(c->words[i], w, (size_t)n) == 0; i++)
        if (c->schema_name[i]) return 1;
    return 0;
}

/* Linking decides which name, never whether a name comes: only when the
** model's own best token starts a schema name (not MAX, not a keyword)
** do the tokens that lead only to unused linked columns gain the bonus. */
static void add_link_bonus(const copy_vals *c, float *logits, int n_vocab) {
    int best = -1;
    for (int id = 0; id < n_vocab; id++)
        if (!isinf(logits[id]) && (best < 0 || logits[id] > logits[best])) best = id;
    if (best < 0) return;
    char w[CV_WORD];
    size_t n;
    int cond = 0, item = 0;
    const char *b = tok_token_data(c->tok, best, &n);
    int wl = b && !tok_is_special(c->tok, best) ? token_starts_name(c, b, n, w, &cond, &item) : 0;
    if (wl < 1 || !starts_schema_name(c, w, wl)) return;
    for (int id = 0; id < n_vocab; id++) {
        if (isinf(logits[id]) || !(b = tok_token_data(c->tok, id, &n)) || tok_is_special(c->tok, id)) continue;
        if ((wl = token_starts_name(c, b, n, w, &cond, &item)) < 1 || alias_word(w, wl)) continue;
        if (starts_only_linked(c, w, wl, cond)) logits[id] += c->link_bonus;
        if (item && !c->asks_id && starts_only_key(c, w, wl)) logits[id] -= c->link_bonus;
    }
}

copy_vals *cv_new(const tokenizer *tok, const char *question, const char *const *names, int n_names) {
    copy_vals *c = calloc(1, sizeof *c);
    size_t n = strlen(question);
    if (!c || !(c->question = malloc(n + 1)) || !(c->lower = malloc(n + 1)) || !(c->digits = malloc(n + 1))) {
        cv_free(c);
        return NULL;
    }
    c->tok = tok;
    for (size_t i = 0; i < n; i++) {
        c->question[i] = question[i];
        c->lower[i] = (char)tolower((unsigned char)question[i]);
        if (question[i] != ',') c->digits[c->dlen++] = question[i];
    }
    c->question[n] = c->lower[n] = 0;
    if (names) {
        int nk = (int)(sizeof SQL_WORDS / sizeof *SQL_WORDS);
        if (!(c->words = calloc((size_t)(nk + n_names), sizeof *c->words))) { cv_free(c); return NULL; }
        for (int i = 0; i < nk + n_names; i++) {
            const char *w = i < nk ? SQL_WORDS[i] : names[i - nk];
            size_t wl = strlen(w);
            char *l = malloc(2 * wl + 2);   /* lower case, NUL, then the spelling */
            if (!l) { cv_free(c); return NULL; }
            for (size_t k = 0; k <= wl; k++) l[k] = (char)tolower((unsigned char)w[k]);
            memcpy(l + wl + 1, w, wl + 1);
            c->words[c->n_words++] = l;
        }
        qsort(c->words, (size_t)c->n_words, sizeof *c->words, cmp_str);
        if (!(c->spelled = calloc((size_t)c->n_words, sizeof *c->spelled))) { cv_free(c); return NULL; }
        for (int i = 0; i < c->n_words; i++) c->spelled[i] = c->words[i] + strlen(c->words[i]) + 1;
    }
    c->digits[c->dlen] = 0;
    c->qlen = n;
    return c;
}

/* A copy of n bytes of p, or NULL when p is NULL; *ok cleared when out of memory. */
static void *dup_bytes(const void *p, size_t n, int *ok) {
    if (!p) return NULL;
    void *d = malloc(n ? n : 1);
    if (!d) { *ok = 0; return NULL; }
    memcpy(d, p, n);
    return d;
}

copy_vals *cv_clone(const copy_vals *c) {
    copy_vals *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    *d = *c;
    d->question = d->lower = d->digits = NULL;
    d->words = d->spelled = d->held = NULL;
    d->linked = d->used = d->schema_name = d->value_linked = d->key_col = d->plain_col = NULL;
    d->n_words = d->n_held = 0;
    int ok = 1;
    d->question = dup_bytes(c->question, c->qlen + 1, &ok);
    d->lower = dup_bytes(c->lower, c->qlen + 1, &ok);
    d->digits = dup_bytes(c->digits, c->dlen + 1, &ok);
    size_t nw = (size_t)c->n_words;
    d->linked = dup_bytes(c->linked, nw, &ok);
    d->used = dup_bytes(c->used, nw, &ok);
    d->schema_name = dup_bytes(c->schema_name, nw, &ok);
    d->value_linked = dup_bytes(c->value_linked, nw, &ok);
    d->key_col = dup_bytes(c->key_col, nw, &ok);
    d->plain_col = dup_bytes(c->plain_col, nw, &ok);
    if (c->words && ok && (d->words = calloc(nw ? nw : 1, sizeof *d->words)) && (d->spelled = calloc(nw ? nw : 1, sizeof *d->spelled))) {
        for (int i = 0; i < c->n_words && ok; i++) {
            /* lower case, NUL, then the spelling (cv_new's layout) */
            size_t wl = strlen(c->words[i]);
            if (!(d->words[i] = dup_bytes(c->words[i], 2 * wl + 2, &ok))) break;
            d->spelled[i] = d->words[i] + wl + 1;
            d->n_words = i + 1;
        }
    } else if (c->words) ok = 0;
    if (c->n_held && ok && (d->held = calloc((size_t)c->n_held, sizeof *d->held))) {
        for (int i = 0; i < c->n_held && ok; i++) {
            if (!(d->held[i] = dup_bytes(c->held[i], strlen(c->held[i]) + 1, &ok))) break;
            d->n_held = i + 1;
        }
    } else if (c->n_held) ok = 0;
    if (!ok) { cv_free(d); return NULL; }
    return d;
}

void cv_free(copy_vals *c) {
    if (!c) return;
    free(c->question);
    free(c->lower);
    free(c->digits);
    for (int i = 0; i < c->n_words; i++) free(c->words[i]);
    free(c->words);
    free(c->spelled);
    free(c->linked);
    free(c->used);
    free(c->schema_name);
    free(c->key_col);
    free(c->plain_col);
    free(c->value_linked);
    for (int i = 0; i < c->n_held; i++) free(c->held[i]);
    free(c->held);
    free(c);
}

/* Feeds one byte of the reply; a linked name it completes takes no more bonus. */
static void push_byte(copy_vals *c, char ch) {
    if (c->n_held && c->st.mode == CV_IN_VALUE && ch == c->st.quote && held_value(c, c->st.buf, c->st.len, 1))
        c->held_written++;
    int wl = c->st.mode == CV_OUT ? c->st.word_len : 0;
    step(c, &c->st, ch);
    if (!c->used || wl == 0 || wl >= CV_WORD || (c->st.mode == CV_OUT && c->st.word_len > 0)) return;
    flag_word(c, c->used, c->linked, c->st.word, wl);
    if (c->value_linked) flag_word(c, c->used, c->value_linked, c->st.word, wl);
}

void cv_reset(copy_vals *c, const char *prefix) {
    memset(&c->st, 0, sizeof c->st);
    c->held_written = 0;
    if (c->used) memset(c->used, 0, (size_t)c->n_words);
    for (const char *p = prefix ? prefix : ""; *p; p++) push_byte(c, *p);
}

void cv_push(copy_vals *c, int id) {
    size_t n;
    const char *b = tok_token_data(c->tok, id, &n);
    if (!b || tok_is_special(c->tok, id)) return;
    for (size_t i = 0; i < n; i++) push_byte(c, b[i]);
}

int cv_coverage(const copy_vals *c) {
    int n = c->held_written < c->n_held ? c->held_written : c->n_held;
    for (int i = 0; c->used && i < c->n_words; i++) n += c->used[i];
    return n;
}

int cv_mask(copy_vals *c, float *logits, int n_vocab) {
    /* Without names to check, plain SQL text is never masked: values start after an operator. */
    if (!c->words && c->st.mode != CV_AFTER_OP && c->st.mode != CV_IN_VALUE && c->st.mode != CV_IN_NUMBER) return 0;
    unsigned char *bad = calloc((size_t)n_vocab, 1);
    if (!bad) return 0;
    int regular_kept = 0;
    for (int id = 0; id < n_vocab; id++) {
        size_t n;
        const char *b = tok_token_data(c->tok, id, &n);
        if (!b || tok_is_special(c->tok, id) || isinf(logits[id])) continue;
        cv_state s;
        fork_state(&s, &c->st);
        int ok = 1, wrote = 0, held = 0;   /* held: 1 closes the value at a held span, -1 elsewhere */
        for (size_t i = 0; i < n && ok; i++) {
            if (c->n_held && !held && s.mode == CV_IN_VALUE) {
                if (b[i] == s.quote) held = held_value(c, s.buf, s.len, 1) ? 1 : -1;
                else wrote = 1;
            }
            ok = step(c, &s, b[i]);
        }
        if (!ok) bad[id] = 1;
        else regular_kept += n > 0;
        /* Value linking: a value that stays on (or ends at) a span the database holds. */
        if (ok && (held == 1 || (!held && wrote && s.mode == CV_IN_VALUE && held_value(c, s.buf, s.len, 0))))
            bad[id] = 2;
    }
    /* Only special tokens left (no span continues): leave the model free. */
    int masked = 0;
    for (int id = 0; id < n_vocab; id++)
        if (bad[id] == 1 && regular_kept) { logits[id] = -INFINITY; masked++; }
        else if (bad[id] == 2 && c->held_written < c->n_held) logits[id] += c->link_bonus;
    free(bad);
    if (c->linked) add_link_bonus(c, logits, n_vocab);
    return masked;
}
