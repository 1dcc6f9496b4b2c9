/*
** sqlgrammar.c — schema-aware constrained SQL decoding (see sqlgrammar.h).
**
** Three layers, each fed by the one above:
**   wrap    the reply around the statement: leading blanks (the prompt
**           opens any code fence), and after the statement ';', blanks and
**           a closing ``` fence;
**   lexer   bytes → SQL tokens (words, quoted names, strings, numbers,
**           operators), lower-casing words;
**   parser  an explicit-stack LL machine over SQL tokens. Each frame is one
**           grammar rule (statement, SELECT core, FROM, expression, ...)
**           with a state number; a handler consumes the token, pushes a
**           child rule, or ends its rule and hands the token to its parent.
** The whole state is one flat struct (no pointers), so trying a byte is a
** copy and a step. Whether a word prefix can still become an allowed word
** is answered from the words the parser accepts at the word's start, found
** by trial (feeding each schema name, keyword and function name to a copy)
** and cached by a hash of the parser state: the same code decides both
** what is allowed and what happens, so the two cannot disagree.
*/
#include "sqlgrammar.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/hash.h"
#include "../util/strbuf.h"

/* ---- sizes ----------------------------------------------------------------- */

#define SG_WORD 256     /* longest word or quoted name (WikiSQL has 180-byte column names) */
#define SG_FRAMES 48    /* nesting of grammar rules */
#define SG_SCOPES 6     /* nesting of SELECT statements */
#define SG_SRC 8        /* tables in one FROM */
#define SG_PEND 24      /* distinct columns named while FROM is open */
#define SG_RALIAS 8     /* result aliases of one SELECT */
#define SG_CTES 6
#define SG_POOL 384     /* alias and CTE names */

/* ---- keywords and functions ------------------------------------------------ */

enum {
    K_ALL, K_AND, K_AS, K_ASC, K_BETWEEN, K_BY, K_CASE, K_CAST, K_COLLATE, K_CROSS, K_CURRENT_DATE,
    K_CURRENT_TIME, K_CURRENT_TIMESTAMP, K_DESC, K_DISTINCT, K_ELSE, K_END, K_EXCEPT, K_EXISTS, K_FALSE,
    K_FIRST, K_FROM, K_GLOB, K_GROUP, K_HAVING, K_IN, K_INNER, K_INTERSECT, K_IS, K_ISNULL, K_JOIN, K_LAST,
    K_LEFT, K_LIKE, K_LIMIT, K_MATERIALIZED, K_NATURAL, K_NOT, K_NOTNULL, K_NULL, K_NULLS, K_OFFSET, K_ON,
    K_OR, K_ORDER, K_OUTER, K_RECURSIVE, K_SELECT, K_THEN, K_TRUE, K_UNION, K_USING, K_WHEN, K_WHERE,
    K_WITH, K_COUNT_
};
/* sorted, in the order of the enum */
static const char *const KEYWORDS[K_COUNT_] = {
    "all", "and", "as", "asc", "between", "by", "case", "cast", "collate", "cross", "current_date",
    "current_time", "current_timestamp", "desc", "distinct", "else", "end", "except", "exists", "false",
    "first", "from", "glob", "group", "having", "in", "inner", "intersect", "is", "isnull", "join", "last",
    "left", "like", "limit", "materialized", "natural", "not", "notnull", "null", "nulls", "offset", "on",
    "or", "order", "outer", "recursive", "select", "then", "true", "union", "using", "when", "where",
    "with",
};
/* Keywords SQLite also takes as plain names (its "fallback" tokens). */
static int kw_fallback(int k) { return k == K_LEFT || k == K_FIRST || k == K_LAST || k == K_NULLS || k == K_MATERIALIZED || k == K_RECURSIVE; }

typedef struct sg_func { const char *name; int8_t min, max; uint8_t agg; } sg_func;
/* SQLite 3.40's built-in functions a query would use; max -1: any number.
** agg 1: aggregate; 2: aggregate with one argument (min, max). sorted. */
static const sg_func FUNCS[] = {
    {"abs", 1, 1, 0}, {"acos", 1, 1, 0}, {"asin", 1, 1, 0}, {"atan", 1, 1, 0}, {"avg", 1, 1, 1},
    {"ceil", 1, 1, 0}, {"ceiling", 1, 1, 0}, {"char", 0, -1, 0}, {"coalesce", 2, -1, 0}, {"cos", 1, 1, 0},
    {"count", 0, 1, 1}, {"date", 0, -1, 0}, {"datetime", 0, -1, 0}, {"exp", 1, 1, 0}, {"floor", 1, 1, 0},
    {"format", 1, -1, 0}, {"group_concat", 1, 2, 1}, {"hex", 1, 1, 0}, {"ifnull", 2, 2, 0}, {"iif", 3, 3, 0},
    {"instr", 2, 2, 0}, {"julianday", 0, -1, 0}, {"length", 1, 1, 0}, {"ln", 1, 1, 0}, {"log", 1, 2, 0},
    {"log10", 1, 1, 0}, {"lower", 1, 1, 0}, {"ltrim", 1, 2, 0}, {"max", 1, -1, 2}, {"min", 1, -1, 2},
    {"mod", 2, 2, 0}, {"nullif", 2, 2, 0}, {"pi", 0, 0, 0}, {"pow", 2, 2, 0}, {"power", 2, 2, 0},
    {"printf", 0, -1, 0}, {"quote", 1, 1, 0}, {"random", 0, 0, 0}, {"replace", 3, 3, 0}, {"round", 1, 2, 0},
    {"rtrim", 1, 2, 0}, {"sign", 1, 1, 0}, {"sin", 1, 1, 0}, {"sqrt", 1, 1, 0}, {"strftime", 0, -1, 0},
    {"substr", 2, 3, 0}, {"substring", 2, 3, 0}, {"sum", 1, 1, 1}, {"tan", 1, 1, 0}, {"time", 0, -1, 0},
    {"total", 1, 1, 1}, {"trim", 1, 2, 0}, {"trunc", 1, 1, 0}, {"typeof", 1, 1, 0}, {"unicode", 1, 1, 0},
    {"unixepoch", 0, -1, 0}, {"upper", 1, 1, 0},
};
#define N_FUNCS ((int)(sizeof FUNCS / sizeof FUNCS[0]))
static const char *const COLLATIONS[3] = {"binary", "nocase", "rtrim"};

static int find_sorted(const char *const *arr, size_t stride_words, int n, const char *w) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(*(const char *const *)((const char *)arr + (size_t)mid * stride_words), w);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}
static int kw_lookup(const char *w) { return find_sorted(KEYWORDS, sizeof(char *), K_COUNT_, w); }
static int func_lookup(const char *w) { return find_sorted(&FUNCS[0].name, sizeof(sg_func), N_FUNCS, w); }

/* The plain style (sg_set_plain): what the training data of models made by
** `sqlassist train` ever writes (Spider's, WikiSQL's and make_synthetic.py's
** queries). The aggregates and strftime, nothing else: */
static int plain_func(const char *name) {
    static const char *const ok[] = {"avg", "count", "max", "min", "strftime", "sum"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) if (!strcmp(ok[i], name)) return 1;
    return 0;
}
/* table aliases T1 to T9 (or t1 to t9), as Spider writes them; a prefix of one */
static int plain_alias_prefix(const char *w) {
    return (w[0] == 'T' || w[0] == 't') && (!w[1] || (w[1] >= '1' && w[1] <= '9' && !w[2]));
}
static int plain_alias(const char *w) { return w[0] && w[1] && plain_alias_prefix(w); }

/* ---- the state --------------------------------------------------------------- */

enum { F_TOP = 1, F_STMT, F_CTE, F_CORE, F_RESULT, F_FROM, F_EXPR, F_PAREN, F_INLIST, F_ARGS, F_CASE, F_ORDER,
       F_EXPRLIST, F_IDLIST };

/* expression flags (inherited by sub-expressions, not by subqueries) */
enum { FL_NOAND = 1, FL_NOAGG = 2, FL_STAR = 4, FL_NOCOL = 8, FL_ONECOL = 16, FL_JOINED = 32, FL_DISTINCT = 64,
       FL_RECURSIVE = 128 };

typedef struct sg_frame { uint8_t kind, st, flags, a; int16_t b, c; } sg_frame;
typedef struct sg_src { int16_t table; uint16_t name; uint16_t alias; } sg_src;  /* table -1: open (subquery, CTE) */
typedef struct sg_pend { int16_t col; uint16_t qual; } sg_pend;                   /* col: colname id, -1 unknown */
typedef struct sg_scope {
    uint8_t n_src, n_pend, n_ralias, from_state, has_star, n_results, n_cte_mark, pad;
    uint16_t pool_mark, pad2;
    sg_src src[SG_SRC];
    sg_pend pend[SG_PEND];
    uint16_t ralias[SG_RALIAS];
} sg_scope;

enum { W_PRE, W_SQL, W_TAIL };
enum { LX_NONE, LX_WORD, LX_NUM, LX_STR, LX_STR_Q, LX_QID, LX_QID_Q, LX_BRID, LX_OP };

typedef struct sg_state {
    /* parser (hashed for the expectation cache) */
    uint8_t nf, nscope, n_cte, pad;
    uint16_t pool_len, lastname_len;
    uint16_t cte[SG_CTES];
    sg_frame f[SG_FRAMES];
    sg_scope sc[SG_SCOPES];
    char pool[SG_POOL];
    char lastname[SG_WORD];
    /* wrap and lexer */
    uint8_t wrap, fence_n, lx, lx_sub, qfree, ws_run, nl_run;
    uint16_t wlen;
    int16_t exp_slot;      /* the word's expectations in the grammar's cache (-1: not looked up) */
    uint16_t dict_lo, dict_hi;   /* dictionary entries that begin with the word so far (wlen - 1 bytes of it) */
    uint64_t exp_hash;     /* and the parser-state hash they were made for */
    char word[SG_WORD];
} sg_state;
#define PARSER_BYTES offsetof(sg_state, wrap)

/* Copies the parts of *src in use (frames, scopes, names, the word being
** read): a few hundred bytes where the whole state is over two thousand.
** What lies past the counters in *dst is left as it was and never read. */
static void state_copy(sg_state *dst, const sg_state *src, int with_lexer) {
    memcpy(dst, src, offsetof(sg_state, f));
    memcpy(dst->f, src->f, (size_t)src->nf * sizeof *src->f);
    memcpy(dst->sc, src->sc, (size_t)src->nscope * sizeof *src->sc);
    memcpy(dst->pool, src->pool, src->pool_len);
    memcpy(dst->lastname, src->lastname, (size_t)src->lastname_len + 1);
    if (!with_lexer) return;
    memcpy(&dst->wrap, &src->wrap, offsetof(sg_state, word) - offsetof(sg_state, wrap));
    memcpy(dst->word, src->word, src->wlen);
}

/* ---- the grammar object -------------------------------------------------------- */

typedef struct trie_node { int32_t end, tok0; uint16_t ntok; uint8_t byte, depth; } trie_node;
typedef struct vocab_trie {
    const tokenizer *tok;
    trie_node *nodes;
    int n_nodes;
    int32_t *ids;        /* token ids in byte order (nodes' tok0 index into it) */
    struct vocab_trie *next;
} vocab_trie;

enum { D_KW = 1, D_FUNC = 2, D_NAME = 4 };
typedef struct dict_entry { char *w; uint8_t kind; } dict_entry;

typedef struct gtable { char *lname; char **lcols; int ncols; } gtable;

#define EXP_CACHE 64
typedef struct exp_entry { uint64_t hash; int kind; uint8_t *bits; uint8_t free_ok, short_ok, used; } exp_entry;

struct sql_grammar {
    const tokenizer *tok;
    vocab_trie *trie;
    int plain;           /* sg_set_plain: only the plain style the bundled model was trained on */
    gtable *tab;
    int ntab;
    char **colnames;     /* every column name of the schema, lower case, sorted, unique */
    int ncolnames;
    dict_entry *dict;    /* keywords, functions, names; sorted by w */
    int ndict;
    exp_entry cache[EXP_CACHE];
    int cache_next;
    int end_ids[3];
    sg_state run;
    int run_ok;          /* 0: the reply left the grammar; nothing is constrained */
    long run_gen;        /* bumped at each push: completion cache key */
    long comp_gen;
    long comp_steps;     /* nodes the running completion search has visited */
    int comp_need;       /* tokens comp takes written longest token first (-1: cannot; -2: not counted yet) */
    char *steer;         /* the completion the reply is being steered along (NULL: none) */
    int wants_end;       /* the model's best token would have ended an unfinished statement, or sg_finish */
    int steered;         /* this reply was (partly) written along a completion */
    size_t steer_pos;    /* how much of it has been written */
    char *comp;          /* completion for run_gen (NULL: none found) */
    int comp_valid;
    sg_state *dfs;       /* mask scratch: one state per trie depth */
    unsigned char *ok;   /* mask scratch: allowed tokens */
    int ok_cap;
    sg_stats stats;
};

/* ---- small helpers -------------------------------------------------------------- */

static char lc(char c) { return (char)tolower((unsigned char)c); }
static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
static int word_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static int word_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }
/* Can w be written as an unquoted word? */
static int bare_word(const char *w) {
    if (!word_start((unsigned char)*w)) return 0;
    for (const char *p = w + 1; *p; p++) if (!word_char((unsigned char)*p)) return 0;
    return 1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_dict(const void *a, const void *b) {
    const dict_entry *x = a, *y = b;
    int c = strcmp(x->w, y->w);
    return c ? c : (int)x->kind - (int)y->kind;
}

static char *lower_dup(const char *s) {
    char *d = strdup(s);
    if (d) for (char *p = d; *p; p++) *p = lc(*p);
    return d;
}

static int bsearch_str(char *const *arr, int n, const char *w) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(arr[mid], w);
        if (!c) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int table_lookup(const sql_grammar *g, const char *w) {
    for (int i = 0; i < g->ntab; i++) if (!strcmp(g->tab[i].lname, w)) return i;
    return -1;
}
static int table_has(const sql_grammar *g, int t, const char *col) {
    return bsearch_str(g->tab[t].lcols, g->tab[t].ncols, col) >= 0;
}

static const char *pool_str(const sg_state *s, uint16_t off1) { return off1 ? s->pool + off1 - 1 : ""; }
/* Copies w into the pool; returns its offset + 1, or 0 when full. */
static uint16_t pool_add(sg_state *s, const char *w) {
    size_t n = strlen(w) + 1;
    if (s->pool_len + n > SG_POOL) return 0;
    memcpy(s->pool + s->pool_len, w, n);
    uint16_t off = (uint16_t)(s->pool_len + 1);
    s->pool_len = (uint16_t)(s->pool_len + n);
    return off;
}

/* ---- SQL tokens handed to the parser ---------------------------------------------- */

enum { TK_WORD = 1, TK_QID, TK_BRID, TK_STRING, TK_NUMBER, TK_PUNCT, TK_END };
/* two-character operators as one code */
enum { OP_LE = 'l', OP_GE = 'g', OP_NE = 'n', OP_EQ2 = 'e', OP_CAT = 'c', OP_SHL = 's', OP_SHR = 'r' };

typedef struct ptok { int kind; int punct; int kw; const char *text; } ptok;

static int is_kw(const ptok *t, int k) { return t->kind == TK_WORD && t->kw == k; }
static int is_p(const ptok *t, int c) { return t->kind == TK_PUNCT && t->punct == c; }
/* a word that can name something (not a keyword, or one SQLite lets be a name) */
static int is_name(const ptok *t) {
    return t->kind == TK_QID || t->kind == TK_BRID || (t->kind == TK_WORD && (t->kw < 0 || kw_fallback(t->kw)));
}
/* a name the query makes up (alias, CTE): quoted, or a word SQLite does not reserve */
static int is_new_name(const ptok *t) {
    if (t->kind == TK_QID || t->kind == TK_BRID) return 1;
    return t->kind == TK_WORD && t->kw < 0 && !sqlite3_keyword_check(t->text, (int)strlen(t->text));
}
static int is_binop(const ptok *t) {
    if (t->kind != TK_PUNCT) return 0;
    switch (t->punct) {
    case '*': case '/': case '%': case '+': case '-': case '<': case '>': case '=': case '&': case '|':
    case OP_LE: case OP_GE: case OP_NE: case OP_EQ2: case OP_CAT: case OP_SHL: case OP_SHR: return 1;
    }
    return 0;
}
/* the operators of the plain style: comparisons and arithmetic */
static int plain_binop(const ptok *t) {
    return is_binop(t) && t->punct != '&' && t->punct != '|' && t->punct != '%' && t->punct != OP_CAT &&
           t->punct != OP_SHL && t->punct != OP_SHR;
}

/* ---- scopes and names --------------------------------------------------------------- */

static sg_scope *cur_scope(sg_state *s) { return s->nscope ? &s->sc[s->nscope - 1] : NULL; }

static int push_frame(sg_state *s, int kind, int flags) {
    if (s->nf >= SG_FRAMES) return 0;
    sg_frame *f = &s->f[s->nf++];
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->flags = (uint8_t)flags;
    return 1;
}

static int push_scope(sg_state *s) {
    if (s->nscope >= SG_SCOPES) return 0;
    sg_scope *sc = &s->sc[s->nscope++];
    memset(sc, 0, sizeof *sc);
    sc->pool_mark = s->pool_len;
    sc->n_cte_mark = s->n_cte;
    return 1;
}

static void pop_scope(sg_state *s) {
    sg_scope *sc = &s->sc[--s->nscope];
    memset(s->pool + sc->pool_mark, 0, (size_t)(s->pool_len - sc->pool_mark));
    s->pool_len = sc->pool_mark;
    for (int i = sc->n_cte_mark; i < s->n_cte; i++) s->cte[i] = 0;
    s->n_cte = sc->n_cte_mark;
    memset(sc, 0, sizeof *sc);
}

static int cte_lookup(const sg_state *s, const char *w) {
    for (int i = 0; i < s->n_cte; i++) if (!strcmp(pool_str(s, s->cte[i]), w)) return i;
    return -1;
}

/* The name a query uses for source src (its alias, else its table's or CTE's name). */
static const char *src_name(const sql_grammar *g, const sg_state *s, const sg_src *src) {
    if (src->alias) return pool_str(s, src->alias);
    if (src->table >= 0) return g->tab[src->table].lname;
    return pool_str(s, src->name);
}

/* In scope sc: 1 when exactly one source (or an open one) has col, 0 when
** none, -1 when two known sources have it (ambiguous). */
static int scope_col(const sql_grammar *g, const sg_scope *sc, const char *col) {
    int known = 0, open = 0;
    for (int i = 0; i < sc->n_src; i++) {
        if (sc->src[i].table < 0) open = 1;
        else if (table_has(g, sc->src[i].table, col)) known++;
    }
    if (known > 1) return -1;
    return known || open;
}

static int ralias_has(const sg_state *s, const sg_scope *sc, const char *w) {
    for (int i = 0; i < sc->n_ralias; i++) if (!strcmp(pool_str(s, sc->ralias[i]), w)) return 1;
    return 0;
}

/* Is qual.col (qual NULL: col) a column visible from scope level lv and
** below? Scopes whose FROM has not started are skipped. */
static int col_visible(const sql_grammar *g, const sg_state *s, int lv, const char *qual, const char *col) {
    for (int i = lv; i >= 0; i--) {
        const sg_scope *sc = &s->sc[i];
        if (sc->from_state == 0) continue;
        if (qual) {
            int named = -1, twice = 0;
            for (int k = 0; k < sc->n_src; k++)
                if (!strcmp(src_name(g, s, &sc->src[k]), qual)) { twice |= named >= 0; if (named < 0) named = k; }
            if (twice) return 0;   /* two sources under one name: ambiguous */
            if (named >= 0) return sc->src[named].table < 0 || table_has(g, sc->src[named].table, col);
        } else {
            int r = scope_col(g, sc, col);
            if (r) return r > 0;
        }
    }
    return 0;
}


/* Is w one of SQLite's keywords (which a made-up name may not be)? */
static int sqlite_keyword(const char *w) { return sqlite3_keyword_check(w, (int)strlen(w)); }

/* Can w qualify a column in the current SELECT before its FROM is read
** (a table or CTE of the query, or an alias such as T1 written later)? */
static int short_alias(const char *w) {
    size_t n = strlen(w);
    if (n < 1 || n > 3 || !isalpha((unsigned char)w[0]) || sqlite_keyword(w)) return 0;
    for (size_t i = 1; i < n; i++) if (!isalnum((unsigned char)w[i])) return 0;
    return 1;
}

/* Does q already name a source of the current SELECT or an outer one? */
static int qual_bound(const sql_grammar *g, const sg_state *s, const char *q) {
    for (int i = s->nscope - 1; i >= 0; i--)
        for (int k = 0; k < s->sc[i].n_src; k++)
            if (!strcmp(src_name(g, s, &s->sc[i].src[k]), q)) return 1;
    return 0;
}

/* Is w a qualifier the current SELECT used before its FROM named it? */
static int pending_qual(const sg_state *s, const char *w) {
    const sg_scope *sc = &s->sc[s->nscope - 1];
    for (int i = 0; i < sc->n_pend; i++)
        if (sc->pend[i].qual && !strcmp(pool_str(s, sc->pend[i].qual), w)) return 1;
    return 0;
}

/* Qualifiers one SELECT may use before its FROM names them (T1..T4): each
** needs a table joined, and a completion must stay short. */
#define MAX_NEW_QUALIFIERS 4

/* Checks (and, when record, records) the column reference qual.col in the
** current scope. Before FROM it is remembered and checked when FROM ends. */
static int col_ref(const sql_grammar *g, sg_state *s, const char *qual, const char *col, int record) {
    sg_scope *sc = cur_scope(s);
    if (!sc) return 0;
    int lv = s->nscope - 1;
    if (!qual && ralias_has(s, sc, col)) return 1;
    if (!qual && sc->from_state == 1 && scope_col(g, sc, col) < 0) return 0;   /* ambiguous for good */
    int visible = col_visible(g, s, lv, qual, col);
    if (visible && (qual || sc->from_state == 2 || !record)) return 1;
    if (qual && !visible && qual_bound(g, s, qual)) return 0;   /* q names a table already: final */
    if (!visible && sc->from_state == 2) return 0;
    /* While FROM is open an unqualified name is remembered even when a table
    ** gives it now: a table joined later may make it ambiguous. */
    /* before FROM ends (the SELECT list, an ON naming a table joined later):
    ** the column must exist somewhere (or a CTE may have it) */
    int id = bsearch_str(g->colnames, g->ncolnames, col);
    if (id < 0 && !s->n_cte) return 0;
    if (qual && table_lookup(g, qual) < 0 && cte_lookup(s, qual) < 0 && !(g->plain ? plain_alias(qual) : short_alias(qual))) return 0;
    /* every column written as qual.x must be one table's, or no FROM can
    ** ever give them all */
    if (qual && id >= 0 && !s->n_cte) {
        int some = 0;
        for (int t = 0; t < g->ntab && !some; t++) {
            if (!table_has(g, t, col)) continue;
            int all = 1;
            for (int i = 0; i < sc->n_pend && all; i++)
                if (sc->pend[i].qual && !strcmp(pool_str(s, sc->pend[i].qual), qual) && sc->pend[i].col >= 0)
                    all = table_has(g, t, g->colnames[sc->pend[i].col]);
            some = all;
        }
        if (!some) return 0;
    }
    if (qual && !pending_qual(s, qual)) {   /* a new made-up qualifier: a few per SELECT */
        int nq = 0;
        for (int i = 0; i < sc->n_pend; i++) {
            if (!sc->pend[i].qual) continue;
            int first = 1;
            for (int j = 0; j < i && first; j++)
                if (sc->pend[j].qual && !strcmp(pool_str(s, sc->pend[j].qual), pool_str(s, sc->pend[i].qual))) first = 0;
            nq += first;
        }
        if (nq >= MAX_NEW_QUALIFIERS) return 0;
    }
    if (!record) return 1;
    for (int i = 0; i < sc->n_pend; i++)   /* the same name again */
        if (sc->pend[i].col == id && !strcmp(pool_str(s, sc->pend[i].qual), qual ? qual : "")) return 1;
    if (sc->n_pend >= SG_PEND) return 0;
    uint16_t q = 0;
    if (qual && !(q = pool_add(s, qual))) return 0;
    sc->pend[sc->n_pend].col = (int16_t)id;
    sc->pend[sc->n_pend].qual = q;
    sc->n_pend++;
    return 1;
}

/* Are the columns named before FROM all visible now? */
static int resolve_pending(const sql_grammar *g, sg_state *s) {
    sg_scope *sc = cur_scope(s);
    int lv = s->nscope - 1;
    for (int i = 0; i < sc->n_pend; i++) {
        const sg_pend *p = &sc->pend[i];
        const char *qual = p->qual ? pool_str(s, p->qual) : NULL;
        if (p->col == -2) {  /* qual.* */
            int found = 0;
            for (int k = lv; k >= 0 && !found; k--)
                for (int j = 0; j < s->sc[k].n_src; j++)
                    if (!strcmp(src_name(g, s, &s->sc[k].src[j]), qual)) found = 1;
            if (!found) return 0;
            continue;
        }
        if (p->col < 0) {    /* a name only a CTE or subquery can have */
            int open = 0;
            for (int k = lv; k >= 0 && !open; k--)
                for (int j = 0; j < s->sc[k].n_src; j++)
                    if (s->sc[k].src[j].table < 0 && (!qual || !strcmp(src_name(g, s, &s->sc[k].src[j]), qual))) open = 1;
            if (!open) return 0;
            continue;
        }
        if (!col_visible(g, s, lv, qual, g->colnames[p->col])) return 0;
    }
    return 1;
}

/* Roles a bare word can play in an expression. */
enum { R_COL = 1, R_QUAL = 2, R_FUNC = 4, R_LIT = 8 };

static int qual_ok(const sql_grammar *g, sg_state *s, const char *w) {
    for (int i = s->nscope - 1; i >= 0; i--) {
        const sg_scope *sc = &s->sc[i];
        for (int k = 0; k < sc->n_src; k++) if (!strcmp(src_name(g, s, &sc->src[k]), w)) return 1;
    }
    sg_scope *sc = cur_scope(s);
    if (sc && sc->from_state != 2) return table_lookup(g, w) >= 0 || cte_lookup(s, w) >= 0 || (g->plain ? plain_alias(w) : short_alias(w));
    return 0;
}

/* ---- the parser ----------------------------------------------------------------------- */

enum { R_OK, R_REJ, R_POP, R_AGAIN, R_DONE };

/* frames' exit actions; 0 refuses the token that ends the rule */
static int rule_exit(const sql_grammar *g, sg_state *s, sg_frame *f) {
    switch (f->kind) {
    case F_STMT:
        pop_scope(s);
        return 1;
    case F_FROM: {
        sg_scope *sc = cur_scope(s);
        sc->from_state = 2;
        return resolve_pending(g, s);
    }
    case F_CORE: {
        sg_scope *sc = cur_scope(s);
        if (sc->from_state == 0) {
            if (sc->has_star) return 0;          /* SELECT * needs FROM */
            if (!resolve_pending(g, s)) return 0;
        }
        sg_frame *st = &s->f[s->nf - 1];          /* the F_STMT it belongs to (the core is popped) */
        int n = sc->has_star ? 254 : sc->n_results;
        if ((st->flags & FL_ONECOL) && n != 1 && n != 254) return 0;
        if (st->a == 255 || st->a == 254) st->a = (uint8_t)n;
        else if (n != 254 && st->a != n) return 0;   /* compound members differ in width */
        return 1;
    }
    case F_RESULT: {
        sg_scope *sc = cur_scope(s);
        if (sc->n_results < 250) sc->n_results++;
        return 1;
    }
    }
    return 1;
}

static int push_stmt(sg_state *s, int flags) {
    if (!push_frame(s, F_STMT, flags) || !push_scope(s)) return 0;
    s->f[s->nf - 1].a = 255;
    return 1;
}

static int h_top(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        f->st = 1;
        return push_stmt(s, 0) ? R_AGAIN : R_REJ;
    case 1:
        if (is_p(t, ';')) { f->st = 2; return R_OK; }
        return t->kind == TK_END ? R_OK : R_REJ;
    default:
        return t->kind == TK_END ? R_OK : R_REJ;
    }
}

static int h_stmt(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        if (is_kw(t, K_WITH)) { f->st = 1; return R_OK; }
        f->st = 2;
        return R_AGAIN;
    case 1:
        if (is_kw(t, K_RECURSIVE) && !(f->flags & FL_RECURSIVE)) { f->flags |= FL_RECURSIVE; return R_OK; }
        f->st = 3;
        return push_frame(s, F_CTE, 0) ? R_AGAIN : R_REJ;
    case 3:
        if (is_p(t, ',')) return push_frame(s, F_CTE, 0) ? R_OK : R_REJ;
        f->st = 2;
        return R_AGAIN;
    case 2:
    case 5:
        if (!is_kw(t, K_SELECT)) return R_REJ;
        f->st = 4;
        return push_frame(s, F_CORE, 0) ? R_AGAIN : R_REJ;
    case 4:
        if (is_kw(t, K_UNION)) { f->st = 6; return R_OK; }
        if (is_kw(t, K_INTERSECT) || is_kw(t, K_EXCEPT)) { f->st = 5; return R_OK; }
        if (is_kw(t, K_ORDER)) { f->st = 7; return R_OK; }
        if (is_kw(t, K_LIMIT)) { f->st = 9; return push_frame(s, F_EXPR, FL_NOCOL | FL_NOAGG) ? R_OK : R_REJ; }
        return R_POP;
    case 6:
        if (is_kw(t, K_ALL)) { f->st = 5; return R_OK; }
        f->st = 5;
        return R_AGAIN;
    case 7:
        if (!is_kw(t, K_BY)) return R_REJ;
        f->st = 8;
        return push_frame(s, F_ORDER, 0) ? R_OK : R_REJ;
    case 8:
        if (is_kw(t, K_LIMIT)) { f->st = 9; return push_frame(s, F_EXPR, FL_NOCOL | FL_NOAGG) ? R_OK : R_REJ; }
        return R_POP;
    case 9:
        if (is_kw(t, K_OFFSET) || is_p(t, ',')) { f->st = 10; return push_frame(s, F_EXPR, FL_NOCOL | FL_NOAGG) ? R_OK : R_REJ; }
        return R_POP;
    default:
        return R_POP;
    }
}

static int h_cte(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0: {
        if (!is_new_name(t) || t->kind == TK_BRID) return R_REJ;
        if (s->n_cte >= SG_CTES || cte_lookup(s, t->text) >= 0) return R_REJ;
        uint16_t off = pool_add(s, t->text);
        if (!off) return R_REJ;
        s->cte[s->n_cte++] = off;
        f->st = 1;
        return R_OK;
    }
    case 1:
        if (is_p(t, '(')) { f->st = 2; return push_frame(s, F_IDLIST, 0) ? R_OK : R_REJ; }
        /* fall through */
    case 2:
        if (is_kw(t, K_AS)) { f->st = 3; return R_OK; }
        return R_REJ;
    case 3:
        if (is_kw(t, K_NOT) && !f->a) { f->a = 1; return R_OK; }
        if (is_kw(t, K_MATERIALIZED) && f->a < 2) { f->a = 2; return R_OK; }
        if (!is_p(t, '(') || f->a == 1) return R_REJ;
        f->st = 4;
        return push_stmt(s, 0) ? R_OK : R_REJ;
    case 4:
        return is_p(t, ')') ? R_DONE : R_REJ;
    }
    return R_REJ;
}

static int h_core(const sql_grammar *g, sg_state *s, sg_frame *f, const ptok *t) {
    sg_scope *sc = cur_scope(s);
    switch (f->st) {
    case 0: {
        if (!is_kw(t, K_SELECT)) return R_REJ;
        /* a new member of a compound: its own names */
        uint16_t pm = sc->pool_mark;
        uint8_t cm = sc->n_cte_mark;
        memset(sc, 0, sizeof *sc);
        sc->pool_mark = pm;
        sc->n_cte_mark = cm;
        f->st = 1;
        return R_OK;
    }
    case 1:
        f->st = 2;
        if (is_kw(t, K_DISTINCT) || is_kw(t, K_ALL)) return R_OK;
        return R_AGAIN;
    case 2:
        f->st = 3;
        return push_frame(s, F_RESULT, 0) ? R_AGAIN : R_REJ;
    case 3:
        if (is_p(t, ',')) return push_frame(s, F_RESULT, 0) ? R_OK : R_REJ;
        if (is_kw(t, K_FROM)) {
            sc->from_state = 1;
            f->st = 4;
            return push_frame(s, F_FROM, 0) ? R_OK : R_REJ;
        }
        /* no FROM: what the SELECT list named must come from outer SELECTs;
        ** refused now unless one of them has yet to read its FROM */
        if (sc->n_pend && !resolve_pending(g, s)) {
            int open_outer = 0;
            for (int i = 0; i + 1 < s->nscope; i++) open_outer |= s->sc[i].from_state != 2;
            if (!open_outer) return R_REJ;
        }
        f->st = 4;
        return R_AGAIN;
    case 4:
        f->st = 5;
        if (is_kw(t, K_WHERE)) return push_frame(s, F_EXPR, FL_NOAGG) ? R_OK : R_REJ;
        return R_AGAIN;
    case 5:
        if (is_kw(t, K_GROUP)) { f->st = 6; return R_OK; }
        f->st = 8;
        return R_AGAIN;
    case 6:
        if (!is_kw(t, K_BY)) return R_REJ;
        f->st = 7;
        return push_frame(s, F_EXPRLIST, FL_NOAGG) ? R_OK : R_REJ;
    case 7:
        f->st = 8;
        if (is_kw(t, K_HAVING)) return push_frame(s, F_EXPR, 0) ? R_OK : R_REJ;
        return R_AGAIN;
    default:
        return R_POP;
    }
}

static int h_result(const sql_grammar *g, sg_state *s, sg_frame *f, const ptok *t) {
    sg_scope *sc = cur_scope(s);
    switch (f->st) {
    case 0:
        if (is_p(t, '*')) { sc->has_star = 1; f->st = 2; return R_OK; }
        f->st = 1;
        return push_frame(s, F_EXPR, FL_STAR) ? R_AGAIN : R_REJ;
    case 1:
        if (is_kw(t, K_AS) && s->pool_len + 40 <= SG_POOL && !g->plain) { f->st = 3; return R_OK; }   /* plain: no result aliases */
        return R_POP;
    case 3: {
        if (!is_new_name(t) && t->kind != TK_STRING) return R_REJ;
        if (sc->n_ralias < SG_RALIAS) {
            uint16_t off = pool_add(s, t->text);
            if (!off) return R_REJ;
            sc->ralias[sc->n_ralias++] = off;
        }
        return R_DONE;
    }
    default:
        return R_POP;
    }
}

static int add_source(const sql_grammar *g, sg_state *s, int table, uint16_t name) {
    sg_scope *sc = cur_scope(s);
    if (sc->n_src >= SG_SRC) return 0;
    /* a column already named without a table must not become ambiguous */
    for (int i = 0; table >= 0 && i < sc->n_pend; i++) {
        const sg_pend *p = &sc->pend[i];
        if (p->qual || p->col < 0 || !table_has(g, table, g->colnames[p->col])) continue;
        for (int k = 0; k < sc->n_src; k++)
            if (sc->src[k].table >= 0 && table_has(g, sc->src[k].table, g->colnames[p->col])) return 0;
    }
    sg_src *src = &sc->src[sc->n_src++];
    src->table = (int16_t)table;
    src->name = name;
    src->alias = 0;
    return 1;
}

/* A short alias (c, oi, t1) that does not begin a keyword. */
static int loose_alias(const char *w) {
    if (!short_alias(w)) return 0;
    size_t n = strlen(w);
    if (n < 2) return 1;
    for (int k = 0; k < K_COUNT_; k++) if (!strncmp(KEYWORDS[k], w, n)) return 0;
    return 1;
}


/* Names the last source w. Refused when a column already written as w.col
** is not one of that source's: the query could never be completed. */
static int set_alias(const sql_grammar *g, sg_state *s, const char *w) {
    sg_scope *sc = cur_scope(s);
    if (!sc->n_src || (g->plain && !plain_alias(w))) return 0;
    sg_src *src = &sc->src[sc->n_src - 1];
    for (int k = 0; k + 1 < sc->n_src; k++)   /* one name, one source */
        if (!strcmp(src_name(g, s, &sc->src[k]), w)) return 0;
    for (int i = 0; i < sc->n_pend; i++) {
        const sg_pend *p = &sc->pend[i];
        if (!p->qual || strcmp(pool_str(s, p->qual), w) || src->table < 0) continue;
        if (p->col >= 0 && !table_has(g, src->table, g->colnames[p->col])) return 0;
        if (p->col == -1) return 0;
    }
    uint16_t off = pool_add(s, w);
    if (!off) return 0;
    src->alias = off;
    return 1;
}

static int h_from(const sql_grammar *g, sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        if (is_p(t, '(')) { f->st = 5; return push_stmt(s, 0) ? R_OK : R_REJ; }
        if (is_name(t) || t->kind == TK_WORD) {   /* SQLite takes a table named like a keyword (CAST) here */
            int ti = table_lookup(g, t->text);
            if (ti >= 0) { f->st = 1; return add_source(g, s, ti, 0) ? R_OK : R_REJ; }
            int ci = t->kind != TK_BRID ? cte_lookup(s, t->text) : -1;
            if (ci >= 0) { f->st = 1; return add_source(g, s, -1, s->cte[ci]) ? R_OK : R_REJ; }
        }
        return R_REJ;
    case 5:
        if (!is_p(t, ')')) return R_REJ;
        f->st = 1;
        return add_source(g, s, -1, 0) ? R_OK : R_REJ;
    case 1:
        if (is_kw(t, K_AS) && s->pool_len + 40 <= SG_POOL) { f->st = 2; return R_OK; }
        /* "FROM customers c": an alias without AS where the SELECT list
        ** already used it (c.name), or a short one that is not the start of
        ** a keyword (a model writing "WHERE" as "WH"+"e" must not end up
        ** with a table called "whe") */
        if (!g->plain && (is_new_name(t) && t->kind != TK_BRID) && (pending_qual(s, t->text) || loose_alias(t->text))) {
            f->st = 3;
            return set_alias(g, s, t->text) ? R_OK : R_REJ;
        }
        f->st = 3;
        return R_AGAIN;
    case 2:
        if (!is_new_name(t)) return R_REJ;
        f->st = 3;
        return set_alias(g, s, t->text) ? R_OK : R_REJ;
    case 3:
        if (f->flags & FL_JOINED) {
            /* the plain style's ON: column = column, AND-ed (FL_JOINED on the expression) */
            if (is_kw(t, K_ON)) { f->st = 4; return push_frame(s, F_EXPR, FL_NOAGG | (g->plain ? FL_JOINED : 0)) ? R_OK : R_REJ; }
            if (g->plain) return R_REJ;   /* a JOIN with no ON */
            if (is_kw(t, K_USING)) { f->st = 6; return R_OK; }
        }
        f->st = 4;
        return R_AGAIN;
    case 6:
        if (!is_p(t, '(')) return R_REJ;
        f->st = 4;
        return push_frame(s, F_IDLIST, FL_JOINED) ? R_OK : R_REJ;
    case 4:
        f->flags &= (uint8_t)~FL_JOINED;
        f->a = 0;
        if (is_kw(t, K_JOIN)) { f->flags |= FL_JOINED; f->st = 0; return R_OK; }
        if (g->plain && (is_p(t, ',') || is_kw(t, K_INNER) || is_kw(t, K_CROSS) || is_kw(t, K_LEFT) || is_kw(t, K_NATURAL)))
            return R_REJ;
        if (is_p(t, ',')) { f->st = 0; return R_OK; }
        if (is_kw(t, K_INNER) || is_kw(t, K_CROSS)) { f->st = 7; return R_OK; }
        if (is_kw(t, K_LEFT)) { f->st = 8; return R_OK; }
        if (is_kw(t, K_NATURAL)) { f->st = 9; return R_OK; }
        return R_POP;
    case 7:
        if (!is_kw(t, K_JOIN)) return R_REJ;
        if (!f->a) f->flags |= FL_JOINED;   /* NATURAL ... JOIN takes no ON */
        f->st = 0;
        return R_OK;
    case 8:
        if (is_kw(t, K_OUTER)) { f->st = 7; return R_OK; }
        if (!is_kw(t, K_JOIN)) return R_REJ;
        if (!f->a) f->flags |= FL_JOINED;
        f->st = 0;
        return R_OK;
    case 9:
        f->a = 1;
        if (is_kw(t, K_LEFT)) { f->st = 8; return R_OK; }
        if (is_kw(t, K_INNER)) { f->st = 7; return R_OK; }
        if (is_kw(t, K_JOIN)) { f->st = 0; return R_OK; }   /* NATURAL JOIN takes no ON */
        return R_REJ;
    }
    return R_REJ;
}

static void set_lastname(sg_state *s, const char *w) {
    size_t n = strlen(w);
    if (n >= SG_WORD) n = SG_WORD - 1;
    memcpy(s->lastname, w, n);
    s->lastname[n] = 0;
    s->lastname_len = (uint16_t)n;
}

/* sub-expression flags: what an operand's parts inherit */
static int inherit(int flags) { return flags & (FL_NOAGG | FL_NOCOL); }

static int h_expr(const sql_grammar *g, sg_state *s, sg_frame *f, const ptok *t) {
    int fl = f->flags;
    switch (f->st) {
    case 0:   /* an operand */
        if (g->plain && (fl & FL_JOINED) && !is_name(t)) return R_REJ;
        if (g->plain && (is_p(t, '~') || is_p(t, '+') || is_kw(t, K_CASE) || is_kw(t, K_CAST) || is_kw(t, K_TRUE) ||
                         is_kw(t, K_FALSE) || is_kw(t, K_CURRENT_DATE) || is_kw(t, K_CURRENT_TIME) ||
                         is_kw(t, K_CURRENT_TIMESTAMP)))
            return R_REJ;
        if (is_p(t, '-') || is_p(t, '+') || is_p(t, '~') || is_kw(t, K_NOT)) return R_OK;
        /* nesting that the state could not close again is refused up front:
        ** a prefix must never be a dead end */
        if (s->nf + 8 > SG_FRAMES && (is_p(t, '(') || is_kw(t, K_CASE) || is_kw(t, K_CAST) || is_kw(t, K_EXISTS)))
            return R_REJ;
        if (is_kw(t, K_EXISTS) && s->nscope >= SG_SCOPES) return R_REJ;
        if (is_p(t, '(')) { f->st = 1; return push_frame(s, F_PAREN, inherit(fl)) ? R_OK : R_REJ; }
        if (t->kind == TK_NUMBER || t->kind == TK_STRING) { f->st = 1; return R_OK; }
        if (is_kw(t, K_NULL) || is_kw(t, K_TRUE) || is_kw(t, K_FALSE) || is_kw(t, K_CURRENT_DATE) ||
            is_kw(t, K_CURRENT_TIME) || is_kw(t, K_CURRENT_TIMESTAMP)) { f->st = 1; return R_OK; }
        if (is_kw(t, K_CASE)) { f->st = 1; return push_frame(s, F_CASE, inherit(fl)) ? R_OK : R_REJ; }
        if (is_kw(t, K_CAST)) { f->st = 30; return R_OK; }
        if (is_kw(t, K_EXISTS)) { f->st = 20; return R_OK; }
        if (is_name(t)) {
            int roles = 0;
            if (!(fl & FL_NOCOL)) {
                if (col_ref(g, s, NULL, t->text, 0)) roles |= R_COL;
                if (t->kind != TK_BRID && qual_ok(g, s, t->text)) roles |= R_QUAL;
                if (t->kind == TK_QID) roles |= R_LIT;     /* "text" is a string when no column has that name */
            } else if (t->kind == TK_QID) roles |= R_LIT;
            if (t->kind == TK_WORD) {
                int fi = func_lookup(t->text);
                if (fi >= 0 && g->plain && (!plain_func(FUNCS[fi].name) || (fl & FL_JOINED))) fi = -1;
                if (fi >= 0 && !(FUNCS[fi].agg == 1 && (fl & FL_NOAGG)) && s->nf + 8 <= SG_FRAMES) {
                    roles |= R_FUNC;
                    f->b = (int16_t)fi;
                }
            }
            if (g->plain && (fl & FL_JOINED)) {   /* ON: columns of the sources joined so far */
                roles &= ~R_LIT;
                if ((roles & R_QUAL) && !qual_bound(g, s, t->text)) roles &= ~R_QUAL;
            }
            if (!roles) return R_REJ;
            set_lastname(s, t->text);
            f->a = (uint8_t)roles;
            f->st = 2;
            return R_OK;
        }
        return R_REJ;
    case 2:   /* after a name: qualifier, function or column */
        if (is_p(t, '.')) {
            if (!(f->a & R_QUAL)) return R_REJ;
            f->st = 3;
            return R_OK;
        }
        if (is_p(t, '(')) {
            if (!(f->a & R_FUNC)) return R_REJ;
            f->st = 1;
            if (!push_frame(s, F_ARGS, inherit(fl))) return R_REJ;
            s->f[s->nf - 1].b = f->b;
            return R_OK;
        }
        if (f->a & R_LIT) { f->st = 1; return R_AGAIN; }
        if (!(f->a & R_COL) || !col_ref(g, s, NULL, s->lastname, 1)) return R_REJ;
        f->st = 1;
        return R_AGAIN;
    case 3:   /* after "qual." */
        if ((t->kind == TK_WORD || t->kind == TK_QID || t->kind == TK_BRID)) {
            if (!col_ref(g, s, s->lastname, t->text, 1)) return R_REJ;
            f->st = 1;
            return R_OK;
        }
        if (is_p(t, '*') && (fl & FL_STAR)) {
            sg_scope *sc = cur_scope(s);
            if (!qual_ok(g, s, s->lastname)) return R_REJ;
            if (sc->from_state != 2) {   /* T1.* before FROM: T1 must be a source once FROM is read */
                uint16_t q = pool_add(s, s->lastname);
                if (!q || sc->n_pend >= SG_PEND) return R_REJ;
                sc->pend[sc->n_pend].col = -2;
                sc->pend[sc->n_pend].qual = q;
                sc->n_pend++;
            }
            sc->has_star = 1;
            f->st = 40;
            return R_OK;
        }
        return R_REJ;
    case 1:   /* after an operand */
        if (g->plain && (fl & FL_JOINED)) {   /* f->c: 1 after "a = b", 0 after "a" */
            if (is_p(t, '=') && f->c == 0) { f->c = 1; f->st = 0; return R_OK; }
            if (is_kw(t, K_AND) && f->c == 1) { f->c = 0; f->st = 0; return R_OK; }
            if (f->c == 0 || is_binop(t) || is_kw(t, K_OR) || is_kw(t, K_IS) || is_kw(t, K_NOT) || is_kw(t, K_IN) ||
                is_kw(t, K_LIKE) || is_kw(t, K_GLOB) || is_kw(t, K_BETWEEN) || is_kw(t, K_ISNULL) ||
                is_kw(t, K_NOTNULL) || is_kw(t, K_COLLATE))
                return R_REJ;
            return R_POP;
        }
        if (g->plain && (is_kw(t, K_GLOB) || is_kw(t, K_ISNULL) || is_kw(t, K_NOTNULL) || is_kw(t, K_COLLATE) ||
                         (is_binop(t) && !plain_binop(t))))
            return R_REJ;
        if (is_binop(t)) { f->st = 0; return R_OK; }
        if (is_kw(t, K_AND)) { if (fl & FL_NOAND) return R_POP; f->st = 0; return R_OK; }
        if (is_kw(t, K_OR)) { f->st = 0; return R_OK; }
        if (is_kw(t, K_IS)) { f->st = 10; return R_OK; }
        if (is_kw(t, K_NOT)) { f->st = 11; return R_OK; }
        if (is_kw(t, K_IN)) { f->st = 12; return R_OK; }
        if (is_kw(t, K_LIKE) || is_kw(t, K_GLOB)) { f->st = 0; return R_OK; }
        if (is_kw(t, K_BETWEEN)) { f->st = 13; return push_frame(s, F_EXPR, inherit(fl) | FL_NOAND) ? R_OK : R_REJ; }
        if (is_kw(t, K_ISNULL) || is_kw(t, K_NOTNULL)) return R_OK;
        if (is_kw(t, K_COLLATE)) { f->st = 14; return R_OK; }
        return R_POP;
    case 10:  /* after IS */
        if (is_kw(t, K_NOT)) { f->st = 16; return R_OK; }
        /* fall through */
    case 16:
        if (is_kw(t, K_DISTINCT)) { f->st = 15; return R_OK; }
        f->st = 0;
        return R_AGAIN;
    case 15:
        if (!is_kw(t, K_FROM)) return R_REJ;
        f->st = 0;
        return R_OK;
    case 11:  /* after a postfix NOT */
        if (is_kw(t, K_IN)) { f->st = 12; return R_OK; }
        if (g->plain && is_kw(t, K_GLOB)) return R_REJ;
        if (is_kw(t, K_LIKE) || is_kw(t, K_GLOB)) { f->st = 0; return R_OK; }
        if (is_kw(t, K_BETWEEN)) { f->st = 13; return push_frame(s, F_EXPR, inherit(fl) | FL_NOAND) ? R_OK : R_REJ; }
        if (is_kw(t, K_NULL)) { f->st = 1; return R_OK; }
        return R_REJ;
    case 12:
        if (!is_p(t, '(')) return R_REJ;
        f->st = 1;
        return push_frame(s, F_INLIST, inherit(fl)) ? R_OK : R_REJ;
    case 13:
        if (!is_kw(t, K_AND)) return R_REJ;
        f->st = 0;
        return R_OK;
    case 14: {
        if (t->kind != TK_WORD) return R_REJ;
        for (int i = 0; i < 3; i++) if (!strcmp(t->text, COLLATIONS[i])) { f->st = 1; return R_OK; }
        return R_REJ;
    }
    case 20:
        if (!is_p(t, '(')) return R_REJ;
        f->st = 21;
        return push_stmt(s, 0) ? R_OK : R_REJ;
    case 21:
        if (!is_p(t, ')')) return R_REJ;
        f->st = 1;
        return R_OK;
    case 30:  /* CAST ( expr AS type ) */
        if (!is_p(t, '(')) return R_REJ;
        f->st = 31;
        return push_frame(s, F_EXPR, inherit(fl)) ? R_OK : R_REJ;
    case 31:
        if (!is_kw(t, K_AS)) return R_REJ;
        f->st = 32;
        return R_OK;
    case 32:
        if (t->kind != TK_WORD || t->kw >= 0) return R_REJ;
        f->st = 33;
        return R_OK;
    case 33:
        if (t->kind == TK_WORD && t->kw < 0) return R_OK;
        if (is_p(t, ')')) { f->st = 1; return R_OK; }
        if (is_p(t, '(')) { f->st = 34; return R_OK; }
        return R_REJ;
    case 34:
        if (t->kind != TK_NUMBER) return R_REJ;
        f->st = 35;
        return R_OK;
    case 35:
        if (is_p(t, ',')) { f->st = 34; return R_OK; }
        if (is_p(t, ')')) { f->st = 36; return R_OK; }
        return R_REJ;
    case 36:
        if (!is_p(t, ')')) return R_REJ;
        f->st = 1;
        return R_OK;
    default:  /* 40: after qual.* nothing more */
        return R_POP;
    }
}

static int h_paren(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        if (is_kw(t, K_SELECT) || is_kw(t, K_WITH)) { f->st = 3; return push_stmt(s, FL_ONECOL) ? R_AGAIN : R_REJ; }
        f->st = 1;
        return push_frame(s, F_EXPR, inherit(f->flags)) ? R_AGAIN : R_REJ;
    default:
        return is_p(t, ')') ? R_DONE : R_REJ;
    }
}

static int h_inlist(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        if (is_kw(t, K_SELECT) || is_kw(t, K_WITH)) { f->st = 3; return push_stmt(s, FL_ONECOL) ? R_AGAIN : R_REJ; }
        if (is_p(t, ')')) return R_DONE;
        f->st = 1;
        return push_frame(s, F_EXPR, inherit(f->flags)) ? R_AGAIN : R_REJ;
    case 1:
        if (is_p(t, ',')) return push_frame(s, F_EXPR, inherit(f->flags)) ? R_OK : R_REJ;
        return is_p(t, ')') ? R_DONE : R_REJ;
    default:
        return is_p(t, ')') ? R_DONE : R_REJ;
    }
}

static int h_args(sg_state *s, sg_frame *f, const ptok *t) {
    const sg_func *fn = &FUNCS[f->b];
    int child = inherit(f->flags) | (fn->agg ? FL_NOAGG : 0);
    switch (f->st) {
    case 0:
        if (is_p(t, ')')) return fn->min == 0 ? R_DONE : R_REJ;
        if (fn->max == 0) return R_REJ;
        if (is_p(t, '*') && !strcmp(fn->name, "count")) { f->st = 2; return R_OK; }
        if (is_kw(t, K_DISTINCT) && fn->agg) { f->flags |= FL_DISTINCT; f->st = 3; return R_OK; }
        /* fall through */
    case 3:
        f->st = 1;
        f->a = 1;
        return push_frame(s, F_EXPR, child) ? R_AGAIN : R_REJ;
    case 1:
        if (is_p(t, ',')) {
            if (fn->max >= 0 && f->a >= fn->max) return R_REJ;
            if (f->flags & FL_DISTINCT) return R_REJ;
            f->a++;
            return push_frame(s, F_EXPR, child) ? R_OK : R_REJ;
        }
        if (!is_p(t, ')')) return R_REJ;
        if (f->a < fn->min) return R_REJ;
        if (fn->agg == 2 && f->a == 1 && (f->flags & FL_NOAGG)) return R_REJ;   /* min(x) is an aggregate */
        if (fn->agg == 2 && f->a > 1 && (f->flags & FL_DISTINCT)) return R_REJ;
        return R_DONE;
    default:
        return is_p(t, ')') ? R_DONE : R_REJ;
    }
}

static int h_case(sg_state *s, sg_frame *f, const ptok *t) {
    int fl = inherit(f->flags);
    switch (f->st) {
    case 0:
        if (is_kw(t, K_WHEN)) { f->st = 1; return push_frame(s, F_EXPR, fl) ? R_OK : R_REJ; }
        f->st = 5;
        return push_frame(s, F_EXPR, fl) ? R_AGAIN : R_REJ;
    case 5:
        if (!is_kw(t, K_WHEN)) return R_REJ;
        f->st = 1;
        return push_frame(s, F_EXPR, fl) ? R_OK : R_REJ;
    case 1:
        if (!is_kw(t, K_THEN)) return R_REJ;
        f->st = 2;
        return push_frame(s, F_EXPR, fl) ? R_OK : R_REJ;
    case 2:
        if (is_kw(t, K_WHEN)) { f->st = 1; return push_frame(s, F_EXPR, fl) ? R_OK : R_REJ; }
        if (is_kw(t, K_ELSE)) { f->st = 3; return push_frame(s, F_EXPR, fl) ? R_OK : R_REJ; }
        return is_kw(t, K_END) ? R_DONE : R_REJ;
    default:
        return is_kw(t, K_END) ? R_DONE : R_REJ;
    }
}

static int h_order(sg_state *s, sg_frame *f, const ptok *t) {
    switch (f->st) {
    case 0:
        f->st = 1;
        return push_frame(s, F_EXPR, 0) ? R_AGAIN : R_REJ;
    case 1:
        f->st = 2;
        if (is_kw(t, K_ASC) || is_kw(t, K_DESC)) return R_OK;
        return R_AGAIN;
    case 2:
        if (is_kw(t, K_NULLS)) { f->st = 3; return R_OK; }
        if (is_p(t, ',')) { f->st = 0; return R_OK; }
        return R_POP;
    case 3:
        if (!is_kw(t, K_FIRST) && !is_kw(t, K_LAST)) return R_REJ;
        f->st = 4;
        return R_OK;
    default:
        if (is_p(t, ',')) { f->st = 0; return R_OK; }
        return R_POP;
    }
}

static int h_exprlist(sg_state *s, sg_frame *f, const ptok *t) {
    if (f->st == 0) {
        f->st = 1;
        return push_frame(s, F_EXPR, f->flags) ? R_AGAIN : R_REJ;
    }
    if (is_p(t, ',')) { f->st = 0; return R_OK; }
    return R_POP;
}

static int h_idlist(const sql_grammar *g, sg_state *s, sg_frame *f, const ptok *t) {
    if (f->st == 0) {
        if (!is_name(t)) return R_REJ;
        if (f->flags & FL_JOINED) {   /* USING: a column of the joined table */
            sg_scope *sc = cur_scope(s);
            const sg_src *src = &sc->src[sc->n_src - 1];
            if (src->table >= 0 && !table_has(g, src->table, t->text)) return R_REJ;
        }
        f->st = 1;
        return R_OK;
    }
    if (is_p(t, ',')) { f->st = 0; return R_OK; }
    return is_p(t, ')') ? R_DONE : R_REJ;
}

/* Feeds one SQL token; 1 when accepted. */
static int parse(const sql_grammar *g, sg_state *s, const ptok *t) {
    for (int guard = 0; guard < 4 * SG_FRAMES + 16; guard++) {
        if (s->nf == 0) return 0;
        sg_frame *f = &s->f[s->nf - 1];
        int r;
        switch (f->kind) {
        case F_TOP: r = h_top(s, f, t); break;
        case F_STMT: r = h_stmt(s, f, t); break;
        case F_CTE: r = h_cte(s, f, t); break;
        case F_CORE: r = h_core(g, s, f, t); break;
        case F_RESULT: r = h_result(g, s, f, t); break;
        case F_FROM: r = h_from(g, s, f, t); break;
        case F_EXPR: r = h_expr(g, s, f, t); break;
        case F_PAREN: r = h_paren(s, f, t); break;
        case F_INLIST: r = h_inlist(s, f, t); break;
        case F_ARGS: r = h_args(s, f, t); break;
        case F_CASE: r = h_case(s, f, t); break;
        case F_ORDER: r = h_order(s, f, t); break;
        case F_EXPRLIST: r = h_exprlist(s, f, t); break;
        case F_IDLIST: r = h_idlist(g, s, f, t); break;
        default: return 0;
        }
        if (r == R_OK) return 1;
        if (r == R_REJ) return 0;
        if (r == R_AGAIN) continue;
        /* R_POP / R_DONE: the rule ends */
        if (f->kind == F_TOP) return 0;
        sg_frame done = *f;
        memset(f, 0, sizeof *f);
        s->nf--;
        if (!rule_exit(g, s, &done)) return 0;
        if (r == R_DONE) return 1;
    }
    return 0;
}

/* ---- the lexer ---------------------------------------------------------------------------- */

static int feed_tok(const sql_grammar *g, sg_state *s, int kind, int punct, const char *text) {
    ptok t = { kind, punct, -1, text };
    if (kind == TK_WORD) t.kw = kw_lookup(text);
    return parse(g, s, &t);
}

static int feed_word(const sql_grammar *g, sg_state *s) {
    s->word[s->wlen] = 0;
    int kind = s->lx == LX_WORD ? TK_WORD : s->lx == LX_BRID ? TK_BRID : TK_QID;
    return feed_tok(g, s, kind, 0, s->word);
}

/* Would the parser take a token of this kind (text) now? On a copy. */
static int trial(const sql_grammar *g, const sg_state *s, int kind, int punct, const char *text) {
    sg_state c;
    state_copy(&c, s, 0);
    return feed_tok(g, &c, kind, punct, text);
}

/* The digit d of the first alias "<first>d" (T1..T9) the parser would take
** as a word here, or 0 when all are taken or none fits. */
static char free_plain_alias(const sql_grammar *g, const sg_state *s, int kind, char first) {
    for (char d = '1'; d <= '9'; d++)
        if (trial(g, s, kind, 0, (char[]){first, d, 0})) return d;
    return 0;
}

static exp_entry *expect_get(sql_grammar *g, const sg_state *s, int kind);

/* Can the word (or quoted name) being read still become an accepted one? */
static int word_prefix_ok(const sql_grammar *g, sg_state *s) {
    s->word[s->wlen] = 0;   /* past wlen the buffer holds whatever state_copy left */
    const char *w = s->word;
    size_t n = s->wlen;
    /* The dictionary entries beginning with w are a run of the sorted
    ** dictionary, narrowed from the previous byte's run by the new byte. */
    int lo = n > 1 ? s->dict_lo : 0, hi = n > 1 ? s->dict_hi : g->ndict;
    unsigned char last = (unsigned char)w[n - 1];
    int a = lo, b = hi;
    while (a < b) {   /* first entry whose byte n-1 is >= last */
        int mid = (a + b) / 2;
        if ((unsigned char)g->dict[mid].w[n - 1] < last) a = mid + 1;
        else b = mid;
    }
    lo = a;
    b = hi;
    while (a < b) {   /* first entry whose byte n-1 is > last */
        int mid = (a + b) / 2;
        if ((unsigned char)g->dict[mid].w[n - 1] <= last) a = mid + 1;
        else b = mid;
    }
    hi = a;
    s->dict_lo = (uint16_t)lo;
    s->dict_hi = (uint16_t)hi;
    int kind = s->lx == LX_WORD ? TK_WORD : s->lx == LX_BRID ? TK_BRID : TK_QID;
    if (kind == TK_QID && s->qfree) return 1;
    exp_entry *e = NULL;
    if (s->exp_slot >= 0) {   /* looked up at the word's first byte: the parser has not moved since */
        exp_entry *c = &((sql_grammar *)g)->cache[s->exp_slot];
        if (c->used && c->hash == s->exp_hash && c->kind == kind) e = c;
    }
    if (!e) {
        e = expect_get((sql_grammar *)g, s, kind);
        if (!e) return 1;
        s->exp_slot = (int16_t)(e - g->cache);
        s->exp_hash = e->hash;
    }
    /* a made-up name (an alias): short enough to be kept */
    if (e->free_ok && s->wlen <= 32 && !g->plain) return 1;
    if (e->free_ok && kind == TK_WORD && plain_alias_prefix(w)) {   /* some alias T1..T9 it begins is free */
        if (n == 2) { if (trial(g, s, kind, 0, w)) return 1; }
        else if (free_plain_alias(g, s, kind, w[0])) return 1;
    }
    /* a short alias or qualifier: the prefix must itself be one (the rules
    ** for them depend on the word), so that no prefix is a dead end */
    if (e->short_ok && n <= 3 && trial(g, s, kind, 0, w)) return 1;
    for (int i = lo; i < hi; i++)
        if (e->bits[i >> 3] & (1u << (i & 7))) return 1;
    /* names the query made up (aliases, CTEs) */
    for (size_t off = 0; off < s->pool_len;) {
        const char *p = s->pool + off;
        size_t len = strlen(p);
        if (len >= n && !strncmp(p, w, n) && trial(g, s, kind, 0, p)) return 1;
        off += len + 1;
    }
    return 0;
}

static int op_pair(int a, int b) {
    if (a == '<' && b == '=') return OP_LE;
    if (a == '<' && b == '>') return OP_NE;
    if (a == '<' && b == '<') return OP_SHL;
    if (a == '>' && b == '=') return OP_GE;
    if (a == '>' && b == '>') return OP_SHR;
    if (a == '=' && b == '=') return OP_EQ2;
    if (a == '!' && b == '=') return OP_NE;
    if (a == '|' && b == '|') return OP_CAT;
    return 0;
}


static int end_ok(const sql_grammar *g, const sg_state *s);

/* Feeds one byte of the reply; 0 when it is refused (s is then garbage). */
/* Blanks in a row outside literals: enough for any layout, few enough that
** a model cannot spend its budget on them. */
#define MAX_BLANKS 8

static int step(const sql_grammar *g, sg_state *s, unsigned char c) {
    /* SQLite ends a statement at a NUL, and the name dictionary's strings end
    ** there too: a NUL is never part of an acceptable reply */
    if (c == 0) return 0;
    if (!is_ws(c)) s->ws_run = s->nl_run = 0;
    if (s->wrap == W_PRE) {   /* the prompt opens any code fence: the reply starts with the SQL */
        if (is_ws(c)) return ++s->ws_run <= MAX_BLANKS;
        s->wrap = W_SQL;
    }
    if (s->wrap == W_TAIL) {
        if (c == '`' && s->fence_n < 3) { s->fence_n++; return 1; }
        return s->fence_n == 3 && is_ws(c) && ++s->ws_run <= MAX_BLANKS;
    }
again:
    switch (s->lx) {
    case LX_WORD:
        if (word_char(c)) {
            if (s->wlen >= SG_WORD - 1) return 0;
            s->word[s->wlen++] = lc((char)c);
            return word_prefix_ok(g, s);
        }
        if (!feed_word(g, s)) return 0;
        memset(s->word, 0, s->wlen);
        s->wlen = 0;
        s->lx = LX_NONE;
        goto again;
    case LX_NUM:
        if (isdigit(c)) { if (s->lx_sub == 2 || s->lx_sub == 3) s->lx_sub = 4; return 1; }
        if (c == '.' && s->lx_sub == 0) { s->lx_sub = 1; return 1; }
        if ((c == 'e' || c == 'E') && s->lx_sub <= 1) { s->lx_sub = 2; return 1; }
        if ((c == '+' || c == '-') && s->lx_sub == 2) { s->lx_sub = 3; return 1; }
        if (word_char(c) || s->lx_sub == 2 || s->lx_sub == 3) return 0;
        if (!feed_tok(g, s, TK_NUMBER, 0, "")) return 0;
        s->lx = LX_NONE;
        goto again;
    case LX_STR:
        if (c == '\'') s->lx = LX_STR_Q;
        return 1;
    case LX_STR_Q:
        if (c == '\'') { s->lx = LX_STR; return 1; }
        if (!feed_tok(g, s, TK_STRING, 0, "")) return 0;
        s->lx = LX_NONE;
        goto again;
    case LX_QID:
    case LX_BRID:
        if ((s->lx == LX_QID && c == '"') || (s->lx == LX_BRID && c == ']')) {
            s->word[s->wlen] = 0;
            /* a quoted name must be one the parser takes as it stands */
            if (!(s->lx == LX_QID && s->qfree) && !trial(g, s, s->lx == LX_QID ? TK_QID : TK_BRID, 0, s->word)) return 0;
            if (s->lx == LX_BRID) {
                if (!feed_word(g, s)) return 0;
                memset(s->word, 0, s->wlen);
                s->wlen = 0;
                s->lx = LX_NONE;
                return 1;
            }
            s->lx = LX_QID_Q;
            return 1;
        }
        if (c == '\n' || s->wlen >= SG_WORD - 1) return 0;
        s->word[s->wlen++] = lc((char)c);
        return word_prefix_ok(g, s);
    case LX_QID_Q:
        if (c == '"') {   /* "" inside a quoted name */
            if (s->wlen >= SG_WORD - 1) return 0;
            s->word[s->wlen++] = '"';
            s->lx = LX_QID;
            return word_prefix_ok(g, s);
        }
        s->lx = LX_QID;
        if (!feed_word(g, s)) return 0;
        memset(s->word, 0, s->wlen);
        s->wlen = 0;
        s->lx = LX_NONE;
        goto again;
    case LX_OP: {
        int p = s->lx_sub, two = op_pair(p, c);
        if (two) {
            s->lx = LX_NONE;
            return feed_tok(g, s, TK_PUNCT, two, "");
        }
        if ((p == '-' && c == '-') || (p == '/' && c == '*') || p == '!') return 0;   /* comments */
        if (!feed_tok(g, s, TK_PUNCT, p, "")) return 0;
        s->lx = LX_NONE;
        goto again;
    }
    default: /* LX_NONE */
        if (is_ws(c)) {   /* no blank line: it ends the SQL where replies are read (prompt_extract_sql) */
            if (g->plain && (c != ' ' || s->ws_run)) return 0;   /* the plain style: one space at a time */
            if (c == '\n' && s->nl_run++) return 0;
            return ++s->ws_run <= MAX_BLANKS;
        }
        if (word_start(c)) {
            s->exp_slot = -1;
            s->lx = LX_WORD;
            s->wlen = 1;
            s->word[0] = lc((char)c);
            return word_prefix_ok(g, s);
        }
        if (isdigit(c)) {
            if (!trial(g, s, TK_NUMBER, 0, "")) return 0;
            s->lx = LX_NUM;
            s->lx_sub = 0;
            return 1;
        }
        if (c == '\'') {
            if (!trial(g, s, TK_STRING, 0, "")) return 0;
            s->lx = LX_STR;
            return 1;
        }
        if (c == '"' || c == '[') {
            s->exp_slot = -1;
            s->lx = c == '"' ? LX_QID : LX_BRID;
            s->wlen = 0;
            s->qfree = c == '"' && trial(g, s, TK_QID, 0, "\x01");
            if (s->qfree) return 1;
            /* some name must start here */
            exp_entry *e = expect_get((sql_grammar *)g, s, s->lx == LX_QID ? TK_QID : TK_BRID);
            if (!e) return 1;
            for (int i = 0; i < g->ndict; i++) if (e->bits[i >> 3] & (1u << (i & 7))) return 1;
            for (size_t off = 0; off < s->pool_len;) {   /* an alias or CTE name, quoted */
                const char *p = s->pool + off;
                if (*p && trial(g, s, s->lx == LX_QID ? TK_QID : TK_BRID, 0, p)) return 1;
                off += strlen(p) + 1;
            }
            return 0;
        }
        if (c == '`') {
            if (!end_ok(g, s)) return 0;
            s->wrap = W_TAIL;
            s->fence_n = 1;
            return 1;
        }
        if (c == '<' || c == '>' || c == '=' || c == '!' || c == '|' || c == '-' || c == '/') {
            if (!trial(g, s, TK_PUNCT, c == '!' ? OP_NE : c, "")) return 0;
            s->lx = LX_OP;
            s->lx_sub = c;
            return 1;
        }
        if (strchr("(),.;*+%&~", c) && c) return feed_tok(g, s, TK_PUNCT, c, "");
        return 0;
    }
}

/* Ends the reply on s: 1 when it is then a complete statement. */
static int finish(const sql_grammar *g, sg_state *s) {
    if (s->wrap == W_PRE) return 0;
    if (s->wrap == W_TAIL) return 1;   /* checked when the fence began */
    switch (s->lx) {
    case LX_WORD: if (!feed_word(g, s)) return 0; break;
    case LX_NUM: if (s->lx_sub == 2 || s->lx_sub == 3 || !feed_tok(g, s, TK_NUMBER, 0, "")) return 0; break;
    case LX_STR_Q: if (!feed_tok(g, s, TK_STRING, 0, "")) return 0; break;
    case LX_QID_Q: s->lx = LX_QID; if (!feed_word(g, s)) return 0; break;
    case LX_OP: if (s->lx_sub == '!' || !feed_tok(g, s, TK_PUNCT, s->lx_sub, "")) return 0; break;
    case LX_NONE: break;
    default: return 0;
    }
    s->lx = LX_NONE;
    return feed_tok(g, s, TK_END, 0, "");
}

static int end_ok(const sql_grammar *g, const sg_state *s) {
    sg_state c;
    state_copy(&c, s, 1);
    return finish(g, &c);
}

/* ---- expectations: which dictionary words the parser takes at a word's start ---------------- */

/* The parser part of s as a hash (the parts in use: see state_copy). */
static uint64_t state_hash(const sg_state *s, int kind) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)kind;
    h = hash_bytes(h, s, offsetof(sg_state, f));
    h = hash_bytes(h, s->f, (size_t)s->nf * sizeof *s->f);
    h = hash_bytes(h, s->sc, (size_t)s->nscope * sizeof *s->sc);
    h = hash_bytes(h, s->pool, s->pool_len);
    return hash_bytes(h, s->lastname, s->lastname_len);
}

static exp_entry *expect_get(sql_grammar *g, const sg_state *s, int kind) {
    uint64_t h = state_hash(s, kind);
    for (int i = 0; i < EXP_CACHE; i++)
        if (g->cache[i].used && g->cache[i].hash == h && g->cache[i].kind == kind) return &g->cache[i];
    exp_entry *e = &g->cache[g->cache_next];
    g->cache_next = (g->cache_next + 1) % EXP_CACHE;
    if (!e->bits) e->bits = calloc((size_t)g->ndict / 8 + 1, 1);
    if (!e->bits) return NULL;
    memset(e->bits, 0, (size_t)g->ndict / 8 + 1);
    for (int i = 0; i < g->ndict; i++) {
        if (kind != TK_WORD && g->dict[i].kind != D_NAME) continue;
        /* a name with a blank or other non-word byte ("unit price") is
        ** written quoted only: as a bare word its prefix would be a dead end */
        if (kind == TK_WORD && !bare_word(g->dict[i].w)) continue;
        if (trial(g, s, kind, 0, g->dict[i].w)) e->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    e->free_ok = (uint8_t)trial(g, s, kind, 0, "zqxjvkw");
    if (g->plain && !e->free_ok) e->free_ok = free_plain_alias(g, s, kind, 'T') != 0;
    e->short_ok = kind == TK_WORD && (uint8_t)trial(g, s, kind, 0, "zqx");
    e->hash = h;
    e->kind = kind;
    e->used = 1;
    return e;
}

/* ---- the vocabulary trie (one per tokenizer, kept for the process) ------------------------- */

static pthread_mutex_t trie_lock = PTHREAD_MUTEX_INITIALIZER;
static vocab_trie *tries;

static const tokenizer *sort_tok;
static int cmp_tok_bytes(const void *a, const void *b) {
    size_t na, nb;
    const char *x = tok_token_data(sort_tok, *(const int32_t *)a, &na);
    const char *y = tok_token_data(sort_tok, *(const int32_t *)b, &nb);
    int c = memcmp(x, y, na < nb ? na : nb);
    if (c) return c;
    if (na != nb) return na < nb ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

static vocab_trie *trie_build(const tokenizer *tok) {
    int V = tok_n_vocab(tok);
    vocab_trie *t = calloc(1, sizeof *t);
    int32_t *ids = malloc((size_t)V * sizeof *ids);
    int n = 0;
    size_t total = 0;
    if (!t || !ids) { free(t); free(ids); return NULL; }
    for (int id = 0; id < V; id++) {
        size_t len;
        const char *b = tok_token_data(tok, id, &len);
        if (!b || len == 0 || len > 255 || tok_is_special(tok, id)) continue;
        ids[n++] = id;
        total += len;
    }
    sort_tok = tok;   /* under trie_lock */
    qsort(ids, (size_t)n, sizeof *ids, cmp_tok_bytes);
    trie_node *nodes = malloc((total + 1) * sizeof *nodes);
    if (!nodes) { free(t); free(ids); return NULL; }
    int open[256];
    int depth_open = 0, nn = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *b = tok_token_data(tok, ids[i], &len);
        size_t l = 0;
        while (prev && l < len && l < prev_len && b[l] == prev[l]) l++;
        if (prev && l == len && len == prev_len) {   /* same bytes as the previous token */
            nodes[open[len - 1]].ntok++;
            continue;
        }
        while (depth_open > (int)l) nodes[open[--depth_open]].end = nn;
        for (size_t d = l; d < len; d++) {
            trie_node *nd = &nodes[nn];
            nd->byte = (uint8_t)b[d];
            nd->depth = (uint8_t)d;
            nd->tok0 = i;
            nd->ntok = 0;
            open[depth_open++] = nn++;
        }
        nodes[open[len - 1]].ntok = 1;
        nodes[open[len - 1]].tok0 = i;
        prev = b;
        prev_len = len;
    }
    while (depth_open > 0) nodes[open[--depth_open]].end = nn;
    t->tok = tok;
    t->nodes = nodes;
    t->n_nodes = nn;
    t->ids = ids;
    return t;
}

static vocab_trie *trie_for(const tokenizer *tok) {
    pthread_mutex_lock(&trie_lock);
    vocab_trie *t = tries;
    while (t && t->tok != tok) t = t->next;
    if (!t && (t = trie_build(tok))) {
        t->next = tries;
        tries = t;
    }
    pthread_mutex_unlock(&trie_lock);
    return t;
}

/* ---- the grammar object --------------------------------------------------------------------- */

static int dict_add(dict_entry **d, int *n, int *cap, const char *w, int kind) {
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 256;
        dict_entry *x = realloc(*d, (size_t)c * sizeof *x);
        if (!x) return -1;
        *d = x;
        *cap = c;
    }
    char *l = lower_dup(w);
    if (!l) return -1;
    (*d)[*n].w = l;
    (*d)[*n].kind = (uint8_t)kind;
    (*n)++;
    return 0;
}

void sg_set_plain(sql_grammar *g) {
    g->plain = 1;
    for (int i = 0; i < EXP_CACHE; i++) g->cache[i].used = 0;   /* expectations worked out without it */
}

sql_grammar *sg_new(const tokenizer *tok, const sc_schema *s) {
    sql_grammar *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->tok = tok;
    int cap = 0, ncol_all = 0;
    for (int i = 0; i < K_COUNT_; i++) if (dict_add(&g->dict, &g->ndict, &cap, KEYWORDS[i], D_KW)) goto oom;
    for (int i = 0; i < N_FUNCS; i++) if (dict_add(&g->dict, &g->ndict, &cap, FUNCS[i].name, D_FUNC)) goto oom;
    for (int i = 0; i < 3; i++) if (dict_add(&g->dict, &g->ndict, &cap, COLLATIONS[i], D_KW)) goto oom;
    int nt = s ? s->ntables : 0;
    g->tab = calloc((size_t)(nt ? nt : 1), sizeof *g->tab);
    if (!g->tab) goto oom;
    for (int i = 0; i < nt; i++) {
        const sc_table *t = &s->tables[i];
        gtable *gt = &g->tab[g->ntab++];
        if (!(gt->lname = lower_dup(t->name))) goto oom;
        if (!(gt->lcols = calloc((size_t)(t->ncols ? t->ncols : 1), sizeof *gt->lcols))) goto oom;
        for (int c = 0; c < t->ncols; c++) {
            if (!(gt->lcols[gt->ncols] = lower_dup(t->cols[c].name))) goto oom;
            gt->ncols++;
        }
        qsort(gt->lcols, (size_t)gt->ncols, sizeof *gt->lcols, cmp_cstr);
        if (dict_add(&g->dict, &g->ndict, &cap, t->name, D_NAME)) goto oom;
        ncol_all += t->ncols;
    }
    g->colnames = calloc((size_t)(ncol_all ? ncol_all : 1), sizeof *g->colnames);
    if (!g->colnames) goto oom;
    for (int i = 0; i < g->ntab; i++)
        for (int c = 0; c < g->tab[i].ncols; c++) g->colnames[g->ncolnames++] = g->tab[i].lcols[c];
    qsort(g->colnames, (size_t)g->ncolnames, sizeof *g->colnames, cmp_cstr);
    int u = 0;
    for (int i = 0; i < g->ncolnames; i++)
        if (!u || strcmp(g->colnames[u - 1], g->colnames[i])) g->colnames[u++] = g->colnames[i];
    g->ncolnames = u;
    for (int i = 0; i < g->ncolnames; i++) if (dict_add(&g->dict, &g->ndict, &cap, g->colnames[i], D_NAME)) goto oom;
    qsort(g->dict, (size_t)g->ndict, sizeof *g->dict, cmp_dict);
    /* one entry per (word, kind) */
    int k = 0;
    for (int i = 0; i < g->ndict; i++) {
        if (k && !strcmp(g->dict[k - 1].w, g->dict[i].w) && g->dict[k - 1].kind == g->dict[i].kind) { free(g->dict[i].w); continue; }
        g->dict[k++] = g->dict[i];
    }
    g->ndict = k;
    g->end_ids[0] = g->end_ids[1] = g->end_ids[2] = -1;
    if (tok) {
        g->end_ids[0] = tok_eos_id(tok);
        g->end_ids[1] = tok_im_end_id(tok);
        g->end_ids[2] = tok_lookup(tok, "<|endoftext|>");
    }
    sg_reset(g, "");
    return g;
oom:
    sg_free(g);
    return NULL;
}

void sg_free(sql_grammar *g) {
    if (!g) return;
    for (int i = 0; i < g->ntab; i++) {
        free(g->tab[i].lname);
        for (int c = 0; c < g->tab[i].ncols; c++) free(g->tab[i].lcols[c]);
        free(g->tab[i].lcols);
    }
    free(g->tab);
    free(g->colnames);   /* entries belong to the tables */
    for (int i = 0; i < g->ndict; i++) free(g->dict[i].w);
    free(g->dict);
    for (int i = 0; i < EXP_CACHE; i++) free(g->cache[i].bits);
    free(g->comp);
    free(g->steer);
    free(g->dfs);
    free(g->ok);
    free(g);
}

static void state_init(sg_state *s) {
    memset(s, 0, sizeof *s);
    s->nf = 1;
    s->f[0].kind = F_TOP;
}

int sg_reset(sql_grammar *g, const char *prefix) {
    state_init(&g->run);
    g->run_ok = 1;
    g->run_gen++;
    free(g->steer);
    g->steer = NULL;
    g->wants_end = 0;
    g->steered = 0;
    for (const char *p = prefix ? prefix : ""; *p; p++)
        if (!step(g, &g->run, (unsigned char)*p)) { g->run_ok = 0; return -1; }
    return 0;
}

static int is_end_id(const sql_grammar *g, int id) {
    return id >= 0 && (id == g->end_ids[0] || id == g->end_ids[1] || id == g->end_ids[2]);
}

int sg_complete(const sql_grammar *g) { return g->run_ok && end_ok(g, &g->run); }

long sg_check_text(sql_grammar *g, const char *text, size_t len, int *complete) {
    sg_state s;
    state_init(&s);
    for (size_t i = 0; i < len; i++)
        if (!step(g, &s, (unsigned char)text[i])) { if (complete) *complete = 0; return (long)i; }
    if (complete) *complete = end_ok(g, &s);
    return -1;
}

/* ---- completion: the shortest way found to end the statement ---------------------------------- */

static const char *const MOVES[] = {
    "", ")", " 1", "'", "\"", "]", "=", "*", " END", " NULL", " AND 1", " BY 1", " AS x", " x", " AS INT)",
    " (SELECT 1)", " WHEN 1 THEN 1 END", " SELECT 1", " THEN 1 END", " JOIN",
};
#define N_MOVES ((int)(sizeof MOVES / sizeof *MOVES))
/* Nodes one completion search may visit: a few milliseconds at most. */
#define COMPLETION_BUDGET 3000

static int apply(sql_grammar *g, sg_state *s, const char *m) {
    for (const char *p = m; *p; p++) if (!step(g, s, (unsigned char)*p)) return 0;
    return 1;
}

/* Depth-first search of up to depth moves; the moves' text goes into out. */
static int complete_dfs(sql_grammar *g, const sg_state *s, int depth, strbuf *out) {
    if (end_ok(g, s)) return 1;
    if (depth == 0 || ++g->comp_steps > COMPLETION_BUDGET) return 0;
    sg_state c;
    size_t mark = out->len;
    /* a word or quoted name being written: finish it as a name the parser takes */
    if (s->lx == LX_WORD || s->lx == LX_QID || s->lx == LX_BRID) {
        for (int i = 0; i < g->ndict; i++) {
            const char *w = g->dict[i].w;
            if (strncmp(w, s->word, s->wlen)) continue;
            state_copy(&c, s, 1);
            if (!apply(g, &c, w + s->wlen)) continue;
            if (s->lx != LX_WORD && !apply(g, &c, s->lx == LX_QID ? "\"" : "]")) continue;
            strbuf_puts(out, w + s->wlen);
            if (s->lx != LX_WORD) strbuf_puts(out, s->lx == LX_QID ? "\"" : "]");
            if (complete_dfs(g, &c, depth - 1, out)) return 1;
            out->len = mark;
        }
    }
    /* table names after FROM / JOIN, and " FROM t" after a SELECT list */
    for (int t = 0; t < g->ntab; t++) {
        for (int form = 0; form < 2; form++) {
            state_copy(&c, s, 1);
            const char *pre = form ? " FROM " : " ";
            if (!apply(g, &c, pre) || !apply(g, &c, g->tab[t].lname)) continue;
            strbuf_puts(out, pre);
            strbuf_puts(out, g->tab[t].lname);
            if (complete_dfs(g, &c, depth - 1, out)) return 1;
            out->len = mark;
        }
    }
    /* names the query made up: " T1" where T1 qualifies a column already */
    for (size_t off = 0; off < s->pool_len;) {
        const char *p = s->pool + off;
        size_t len = strlen(p);
        off += len + 1;
        if (!len) continue;
        state_copy(&c, s, 1);
        if (!apply(g, &c, " ") || !apply(g, &c, p)) continue;
        strbuf_puts(out, " ");
        strbuf_puts(out, p);
        if (complete_dfs(g, &c, depth - 1, out)) return 1;
        out->len = mark;
    }
    for (int i = 1; i < N_MOVES; i++) {
        state_copy(&c, s, 1);
        if (!apply(g, &c, MOVES[i])) continue;
        strbuf_puts(out, MOVES[i]);
        if (complete_dfs(g, &c, depth - 1, out)) return 1;
        out->len = mark;
    }
    return 0;
}

/* A table having column col (colname id; -2: any table), or -1. */
static int table_with(const sql_grammar *g, int col) {
    for (int t = 0; t < g->ntab; t++)
        if (col < 0 || table_has(g, t, g->colnames[col])) return t;
    return -1;
}

/* " JOIN x" (with "FROM" instead of "JOIN" when from) for pending column
** col qualified by q: a table that has col, or the first CTE for a name
** only a CTE can give. */
static void put_source_for(const sql_grammar *g, const sg_state *s, int lv, int col, const char *q, const char *kw,
                           strbuf *out) {
    strbuf_puts(out, kw);
    if (col == -1 && s->n_cte) strbuf_puts(out, pool_str(s, s->cte[0]));
    else {
        int t = col == -3 ? 0 : table_with(g, col);
        if (q && lv >= 0) {   /* a table with every column written as q.x */
            const sg_scope *sc = &s->sc[lv];
            for (int c = 0; c < g->ntab; c++) {
                int all = 1;
                for (int i = 0; i < sc->n_pend && all; i++)
                    if (sc->pend[i].qual && sc->pend[i].col >= 0 && !strcmp(pool_str(s, sc->pend[i].qual), q))
                        all = table_has(g, c, g->colnames[sc->pend[i].col]);
                if (all) { t = c; break; }
            }
        }
        strbuf_puts(out, g->tab[t >= 0 && t < g->ntab ? t : 0].lname);
    }
    if (q && col != -3) { strbuf_puts(out, " AS "); strbuf_puts(out, q); }
}

/* The first column named before FROM that no source of the current SELECT
** gives yet: its qualifier (or NULL) in *qual; -3 when there is none. */
static int unresolved(const sql_grammar *g, const sg_state *s, int lv, const char **qual) {
    if (lv < 0) return -3;
    const sg_scope *sc = &s->sc[lv];
    for (int i = 0; i < sc->n_pend; i++) {
        const sg_pend *p = &sc->pend[i];
        const char *q = p->qual ? pool_str(s, p->qual) : NULL;
        int found = 0;
        if (p->col >= 0 && sc->from_state != 0) found = col_visible(g, s, lv, q, g->colnames[p->col]);
        else
            for (int k = 0; k < sc->n_src && !found; k++) {
                const sg_src *src = &sc->src[k];
                if (q && strcmp(src_name(g, s, src), q)) continue;
                found = src->table < 0 || p->col < 0 || table_has(g, src->table, g->colnames[p->col]);
            }
        if (!found) { *qual = q; return p->col; }
    }
    return -3;
}

/* A name as the plain style writes it: bare when it is a plain word, else quoted. */
static void put_name(strbuf *out, const char *w) {
    int bare = (isalpha((unsigned char)w[0]) || w[0] == '_') && !sqlite_keyword(w);
    for (const char *p = w; *p && bare; p++) bare = isalnum((unsigned char)*p) || *p == '_';
    if (bare) { strbuf_puts(out, w); return; }
    strbuf_puts(out, "\"");
    for (const char *p = w; *p; p++) strbuf_printf(out, *p == '"' ? "\"\"" : "%c", *p);
    strbuf_puts(out, "\"");
}

/* " q.c": the first column of the latest source of the current SELECT that
** is a table (an operand of the plain style's ON); nothing when none is. */
static void put_on_operand(const sql_grammar *g, const sg_state *s, strbuf *out) {
    const sg_scope *sc = cur_scope((sg_state *)s);
    for (int k = sc ? sc->n_src - 1 : -1; k >= 0; k--) {
        const sg_src *src = &sc->src[k];
        if (src->table < 0 || !g->tab[src->table].ncols) continue;
        strbuf_puts(out, " ");
        put_name(out, src_name(g, s, src));
        strbuf_puts(out, ".");
        put_name(out, g->tab[src->table].lcols[0]);
        return;
    }
}

/* One step toward the end of the statement, read off the innermost open
** rule: the text that closes it (or what it still needs) into out. */
static void closer(const sql_grammar *g, const sg_state *s, int k, strbuf *out) {
    const char *word = NULL;
    if (k == s->nf - 1) switch (s->lx) {
    case LX_STR: strbuf_puts(out, "'"); return;
    case LX_QID:
        if (s->qfree) { strbuf_puts(out, "\""); return; }
        /* fall through */
    case LX_WORD:
    case LX_BRID: {   /* the shortest name or keyword the parser takes */
        int kind = s->lx == LX_WORD ? TK_WORD : s->lx == LX_BRID ? TK_BRID : TK_QID;
        char w[SG_WORD];
        memcpy(w, s->word, s->wlen);
        w[s->wlen] = 0;
        if (!trial(g, s, kind, 0, w)) {
            for (int i = 0; i < g->ndict; i++)
                if (!strncmp(g->dict[i].w, w, s->wlen) && trial(g, s, kind, 0, g->dict[i].w) &&
                    (!word || strlen(g->dict[i].w) < strlen(word))) word = g->dict[i].w;
            for (size_t off = 0; off < s->pool_len;) {
                const char *p = s->pool + off;
                if (*p && !strncmp(p, w, s->wlen) && trial(g, s, kind, 0, p) && (!word || strlen(p) < strlen(word))) word = p;
                off += strlen(p) + 1;
            }
            if (word) strbuf_puts(out, word + s->wlen);
            else if (s->lx == LX_WORD && g->plain && plain_alias_prefix(w)) {   /* "T": a free T1..T9 */
                char d = free_plain_alias(g, s, kind, w[0]);
                if (d) strbuf_printf(out, "%c", d);
            } else if (s->lx == LX_WORD) {   /* a made-up name refused as written (an alias taken): another one */
                char w2[SG_WORD + 4];
                snprintf(w2, sizeof w2, "%s_1", w);
                if (trial(g, s, kind, 0, w2)) strbuf_puts(out, "_1");
            }
        }
        strbuf_puts(out, s->lx == LX_WORD ? " " : s->lx == LX_QID ? "\"" : "]");
        return;
    }
    case LX_NUM: if (s->lx_sub == 2 || s->lx_sub == 3) strbuf_puts(out, "1"); else strbuf_puts(out, " "); return;
    case LX_OP: strbuf_puts(out, s->lx_sub == '!' ? "= " : " "); return;
    case LX_STR_Q: case LX_QID_Q: strbuf_puts(out, " "); return;
    }
    const sg_frame *f = &s->f[k];
    const char *q = NULL;
    int col, lv = -1;   /* the scope frame k works in: one per F_STMT at or below it */
    for (int i = 0; i <= k; i++) lv += s->f[i].kind == F_STMT;
    switch (f->kind) {
    case F_EXPR:
        if (g->plain && (f->flags & FL_JOINED)) {   /* the plain style's ON: "q.c = q.c" */
            if (f->st == 0) { put_on_operand(g, s, out); return; }
            if (f->st == 1 && f->c == 0) { strbuf_puts(out, " ="); put_on_operand(g, s, out); return; }
        }
        switch (f->st) {
        case 0: strbuf_puts(out, " 1"); return;
        case 3: {   /* "q." : a column of q, or of any table */
            for (int t = 0; t < g->ntab; t++)
                if (g->tab[t].ncols && trial(g, s, TK_WORD, 0, g->tab[t].lcols[0])) { strbuf_puts(out, g->tab[t].lcols[0]); return; }
            for (int c = 0; c < g->ncolnames; c++)
                if (trial(g, s, TK_WORD, 0, g->colnames[c])) { strbuf_puts(out, g->colnames[c]); return; }
            strbuf_puts(out, "*");
            return;
        }
        case 2:   /* a name that is not a column: a qualifier or a function */
            if (f->a & (R_COL | R_LIT)) break;
            strbuf_puts(out, f->a & R_QUAL ? "." : "(");
            return;
        case 10: case 11: case 16: strbuf_puts(out, " NULL"); return;
        case 12: strbuf_puts(out, " (1)"); return;
        case 13: strbuf_puts(out, " AND 1"); return;
        case 14: strbuf_puts(out, " NOCASE"); return;
        case 15: strbuf_puts(out, " FROM 1"); return;
        case 20: strbuf_puts(out, " (SELECT 1)"); return;
        case 21: case 33: case 36: strbuf_puts(out, ")"); return;
        case 30: strbuf_puts(out, "(1 AS INT)"); return;
        case 31: strbuf_puts(out, " AS INT)"); return;
        case 32: strbuf_puts(out, " INT)"); return;
        case 34: strbuf_puts(out, "1)"); return;
        case 35: strbuf_puts(out, ")"); return;
        }
        break;
    case F_PAREN: case F_INLIST: strbuf_puts(out, f->st == 0 && f->kind == F_PAREN ? "1)" : ")"); return;
    case F_ARGS: {
        const sg_func *fn = &FUNCS[f->b];
        if (f->st == 3) { strbuf_puts(out, "1)"); return; }
        int have = f->st == 0 ? 0 : f->a;
        if (f->st == 2) have = fn->min;
        for (int i = have; i < fn->min; i++) strbuf_puts(out, i ? ", 1" : "1");
        strbuf_puts(out, ")");
        return;
    }
    case F_CASE:
        strbuf_puts(out, f->st == 0 || f->st == 5 ? " WHEN 1 THEN 1 END" : f->st == 1 ? " THEN 1 END" : " END");
        return;
    case F_ORDER: if (f->st == 3) { strbuf_puts(out, " LAST"); return; } break;
    case F_IDLIST: strbuf_puts(out, f->st == 0 ? " x)" : ")"); return;
    case F_RESULT: if (f->st == 3) { strbuf_puts(out, " x"); return; } break;
    case F_CTE:
        strbuf_puts(out, f->st == 0 ? " x AS (SELECT 1)" : f->st <= 2 ? " AS (SELECT 1)" : f->st == 3 ? " (SELECT 1)" : ")");
        return;
    case F_FROM:
        switch (f->st) {
        case 0: case 7: case 8: case 9:
            if (!g->ntab && !s->n_cte) return;
            col = unresolved(g, s, lv, &q);
            put_source_for(g, s, lv, col, q, f->st != 0 ? " JOIN " : " ", out);
            return;
        case 5: strbuf_puts(out, ")"); return;
        case 2:
            if (g->plain) {   /* a free alias T1..T9 */
                char d = free_plain_alias(g, s, TK_WORD, 'T');
                if (d) { strbuf_printf(out, " T%c", d); return; }
            }
            strbuf_puts(out, " x");
            return;
        case 3:
            if (g->plain && (f->flags & FL_JOINED)) {   /* the plain style's JOIN takes its ON */
                strbuf_puts(out, " ON");
                put_on_operand(g, s, out);
                strbuf_puts(out, " =");
                put_on_operand(g, s, out);
                return;
            }
            break;
        case 6: strbuf_puts(out, " (x)"); return;
        }
        col = unresolved(g, s, lv, &q);
        if (col != -3 && (g->ntab || s->n_cte)) {   /* a column named before FROM that no table here gives: join one that does */
            put_source_for(g, s, lv, col, q, " JOIN ", out);
            return;
        }
        break;
    case F_CORE:
        if (f->st == 6) { strbuf_puts(out, " BY 1"); return; }
        if (lv >= 0 && s->sc[lv].from_state == 0 && (f->st == 3 || f->st == 2)) {
            col = unresolved(g, s, lv, &q);
            if ((col != -3 || s->sc[lv].has_star) && (g->ntab || s->n_cte)) {
                put_source_for(g, s, lv, col, q, " FROM ", out);
                return;
            }
        }
        break;
    case F_STMT:
        if (f->st == 1) { strbuf_puts(out, " x AS (SELECT 1)"); return; }
        if (f->st == 2 || f->st == 3 || f->st == 5 || f->st == 6) {
            strbuf_puts(out, " SELECT 1");
            for (int i = 1; i < f->a && f->a < 250; i++) strbuf_puts(out, ", 1");
            return;
        }
        if (f->st == 7) { strbuf_puts(out, " BY 1"); return; }
        break;
    }
}

/* The structural completion: closers applied while the parser takes them. */
static int complete_structural(sql_grammar *g, strbuf *out) {
    sg_state c, next;
    state_copy(&c, &g->run, 1);
    for (int it = 0; it < 64; it++) {
        if (end_ok(g, &c)) return 1;
        /* the innermost rule that needs something and takes it (rules above
        ** it that may end end on the way) */
        int moved = 0;
        for (int k = c.nf - 1; k >= 0 && !moved; k--) {
            size_t mark = out->len;
            closer(g, &c, k, out);
            if (out->oom) return 0;
            if (out->len > mark && out->p[mark] == ' ' && c.ws_run && g->plain) {   /* one blank at a time */
                memmove(out->p + mark, out->p + mark + 1, out->len - mark);
                out->len--;
            }
            if (out->len == mark) continue;
            state_copy(&next, &c, 1);
            if (apply(g, &next, out->p + mark)) { state_copy(&c, &next, 1); moved = 1; }
            if (!moved) out->len = mark;
        }
        if (!moved) return 0;
    }
    return 0;
}

/* The completion of the reply so far (borrowed; NULL: none found), found
** once per reply state: the shortest of a few moves, else the rules closed
** one by one. */
static const char *completion(sql_grammar *g) {
    if (!g->run_ok) return NULL;
    if (g->comp_valid && g->comp_gen == g->run_gen) return g->comp;
    free(g->comp);
    g->comp = NULL;
    g->comp_need = -2;
    g->comp_steps = 0;
    for (int depth = 0; depth <= 3 && !g->comp; depth++) {
        strbuf b;
        strbuf_init(&b);
        strbuf_puts(&b, "");
        if (complete_dfs(g, &g->run, depth, &b)) g->comp = strbuf_take(&b);
        else strbuf_free(&b);
    }
    if (!g->comp) {
        strbuf b;
        strbuf_init(&b);
        strbuf_puts(&b, "");
        if (complete_structural(g, &b)) g->comp = strbuf_take(&b);
        else strbuf_free(&b);
    }
    g->comp_gen = g->run_gen;
    g->comp_valid = 1;
    return g->comp;
}

char *sg_completion(sql_grammar *g) {
    const char *c = completion(g);
    return c ? strdup(c) : NULL;
}

/* The longest token that text begins with (its length in *len), or -1. */
static int longest_token(const vocab_trie *t, const char *text, size_t *len) {
    int best = -1, i = 0;
    size_t d = 0, n = strlen(text);
    *len = 0;
    while (d < n && i < t->n_nodes && t->nodes[i].depth == d) {
        while (i < t->n_nodes && t->nodes[i].depth == d && t->nodes[i].byte != (unsigned char)text[d]) i = t->nodes[i].end;
        if (i >= t->n_nodes || t->nodes[i].depth != d) break;
        if (t->nodes[i].ntok) { best = t->ids[t->nodes[i].tok0]; *len = d + 1; }
        i++;
        d++;
    }
    return best;
}

/* Tokens text takes written longest-token first, or -1. */
static int count_tokens(const vocab_trie *t, const char *text) {
    int n = 0;
    while (*text) {
        size_t len;
        if (longest_token(t, text, &len) < 0) return -1;
        text += len;
        n++;
    }
    return n;
}

/* The rest of the completion the reply must follow now, else NULL
** (borrowed). The reply is steered once the budget left is what the
** completion takes, and then follows that completion, longest token first,
** to its end (a completion found again after each token could begin with
** the same blank for ever). */
#define STEER_MARGIN 10

static const char *forced(sql_grammar *g, int n_left) {
    if (g->steer) return g->steer + g->steer_pos;
    if (n_left > 64 && !g->wants_end) return NULL;
    if (!g->trie) g->trie = trie_for(g->tok);
    if (!g->trie) return NULL;
    if (!completion(g)) return NULL;
    if (g->comp_need == -2) g->comp_need = count_tokens(g->trie, g->comp);   /* once per reply state */
    int need = g->comp_need;
    /* a margin: one token can lengthen the completion by a join or two */
    if (need < 0 || (!g->wants_end && need + STEER_MARGIN < n_left)) return NULL;
    g->steer = strdup(g->comp);
    g->steer_pos = 0;
    g->steered = 1;
    return g->steer;
}

/* The one token allowed while steering: the longest that the rest begins with. */
static int steer_token(sql_grammar *g, const char *rest) {
    size_t len;
    return *rest ? longest_token(g->trie, rest, &len) : -1;
}

/* Does step(s, c) leave the parser part of s as it is (a byte inside a word,
** a literal, a quoted name or a number, or a blank)? */
static int lexer_only(const sg_state *s, unsigned char c) {
    if (s->wrap != W_SQL) return 0;
    switch (s->lx) {
    case LX_WORD: return word_char(c);
    case LX_STR: return c != '\'';
    case LX_NUM: return isdigit(c) != 0;
    case LX_QID: return c != '"' && c != '\n';
    case LX_BRID: return c != ']' && c != '\n';
    case LX_NONE: return is_ws(c) || word_start(c);
    default: return 0;
    }
}

static void lexer_copy(sg_state *dst, const sg_state *src) {
    memcpy(&dst->wrap, &src->wrap, offsetof(sg_state, word) - offsetof(sg_state, wrap));
    memcpy(dst->word, src->word, src->wlen);
}

/* ---- decoding hooks -------------------------------------------------------------------------- */

int sg_allows(sql_grammar *g, int id, int n_left) {
    g->stats.allows_calls++;
    if (!g->run_ok || !g->tok) return 1;
    const char *fc = forced(g, n_left);
    size_t n;
    const char *b = is_end_id(g, id) ? NULL : tok_token_data(g->tok, id, &n);
    /* The model would end here (end of text, ';', a closing fence) but the
    ** statement is not finished: from now on it is closed along the
    ** shortest completion rather than left to wander until the budget ends. */
    if (!fc && (is_end_id(g, id) || (b && n && (b[0] == ';' || b[0] == '`'))) && !end_ok(g, &g->run) &&
        g->run.wrap == W_SQL && g->run.lx == LX_NONE) {
        g->wants_end = 1;
        fc = forced(g, n_left);
    }
    if (is_end_id(g, id)) return end_ok(g, &g->run) && (!fc || !*fc);
    if (!b || n == 0 || tok_is_special(g->tok, id)) return 0;
    if (fc) return id == steer_token(g, fc);
    sg_state c;
    state_copy(&c, &g->run, 1);
    for (size_t i = 0; i < n; i++) if (!step(g, &c, (unsigned char)b[i])) return 0;
    return 1;
}

void sg_finish(sql_grammar *g) { g->wants_end = 1; }

int sg_mask(sql_grammar *g, float *logits, int n_vocab, int n_left) {
    g->stats.masks++;
    if (!g->run_ok || !g->tok) return n_vocab;
    if (!g->trie) g->trie = trie_for(g->tok);
    vocab_trie *t = g->trie;
    if (!t) return n_vocab;
    if (g->ok_cap < n_vocab) {   /* kept between masks: no page faults per step */
        free(g->ok);
        g->ok_cap = 0;
        if (!(g->ok = malloc((size_t)n_vocab))) return n_vocab;
        g->ok_cap = n_vocab;
    }
    unsigned char *ok = g->ok;
    memset(ok, 0, (size_t)n_vocab);
    const char *fc = forced(g, n_left);
    int complete = end_ok(g, &g->run);
    if (fc) {
        int id = steer_token(g, fc);
        if (id >= 0 && id < n_vocab) ok[id] = 1;
    } else {
        if (!g->dfs) g->dfs = malloc(257 * sizeof *g->dfs);
        if (!g->dfs) return n_vocab;
        /* hold[d]: which parser content the buffer dfs[d] holds. A byte that
        ** only moves the lexer (inside a word, a literal, a run of blanks)
        ** leaves the parser as its parent's, and a buffer that already holds
        ** that content needs only the lexer copied. */
        unsigned hold[258];
        unsigned next_id = 1;
        memset(hold, 0, sizeof hold);
        g->dfs[0] = g->run;
        hold[0] = next_id++;
        for (int i = 0; i < t->n_nodes;) {
            const trie_node *nd = &t->nodes[i];
            int d = nd->depth;
            sg_state *child = &g->dfs[d + 1];
            int lex = lexer_only(&g->dfs[d], nd->byte);
            if (lex && hold[d + 1] == hold[d]) lexer_copy(child, &g->dfs[d]);
            else {
                state_copy(child, &g->dfs[d], 1);
                hold[d + 1] = lex ? hold[d] : next_id++;
            }
            g->stats.trie_nodes_visited++;
            if (!step(g, child, nd->byte)) { i = nd->end; continue; }
            for (int k = 0; k < nd->ntok; k++) if (t->ids[nd->tok0 + k] < n_vocab) ok[t->ids[nd->tok0 + k]] = 1;
            i++;
        }
    }
    for (int e = 0; e < 3; e++) if (g->end_ids[e] >= 0 && g->end_ids[e] < n_vocab && complete) ok[g->end_ids[e]] = 1;
    int kept = 0;
    for (int id = 0; id < n_vocab; id++) {
        if (ok[id]) kept++;
        else logits[id] = -INFINITY;
    }
    return kept;
}

int sg_push(sql_grammar *g, int id) {
    if (!g->run_ok || !g->tok) return 0;
    g->run_gen++;
    if (is_end_id(g, id)) return 0;
    size_t n;
    const char *b = tok_token_data(g->tok, id, &n);
    if (!b || tok_is_special(g->tok, id)) { g->run_ok = 0; return -1; }
    if (g->steer) {
        if (!strncmp(g->steer + g->steer_pos, b, n) && strlen(g->steer + g->steer_pos) >= n) g->steer_pos += n;
        else { free(g->steer); g->steer = NULL; }
    }
    for (size_t i = 0; i < n; i++)
        if (!step(g, &g->run, (unsigned char)b[i])) {
            g->run_ok = 0;
            return -1;
        }
    return 0;
}

void sg_get_stats(const sql_grammar *g, sg_stats *out) { *out = g->stats; }

int sg_steered(const sql_grammar *g) { return g->steered; }
