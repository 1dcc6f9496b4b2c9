/*
** sandbox.c — read-only, time- and memory-bounded execution of one SQL
** statement on a real SQLite connection (see sandbox.h for the layers).
*/
#include "sql/sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "util/clock.h"
#include "util/jsonstr.h"
#include "util/strbuf.h"
#include "util/utf8.h"

/* Bounds on the context text of sb_open_context: the whole text, and one
** statement of it while loading (an INSERT of many rows is long). */
#define SB_CONTEXT_MAX_BYTES   (8 * 1024 * 1024)
#define SB_CONTEXT_STMT_BYTES  (1024 * 1024)

/* Closing a sandbox that held this much SQLite memory gives the free
** pages back to the system (malloc_trim). */
#define SB_TRIM_BYTES (8 * 1024 * 1024)

/* VM instructions between two deadline checks: small enough that a check
** comes every few microseconds, large enough to cost nothing measurable. */
#define SB_PROGRESS_OPS 1000

/* Most arguments a function call may have (SQLITE_LIMIT_FUNCTION_ARG). */
#define SB_MAX_FUNCTION_ARGS 100

/* Byte comparisons one call of a guarded function may need (the product of
** its two inputs' lengths); about a tenth of a second at worst. */
#define SB_FUNCTION_WORK_LIMIT 50000000LL

/* ------------------------------------------------------ memory budgets */

/* Every allocation SQLite makes goes through sb_mem_methods, which puts a
** small header in front of it naming the budget it was charged to: the
** budget of the sandbox whose call is running on this thread (a
** thread-local set on entry to every sb_* function that runs SQLite), or
** none. The header makes the free credit the same budget whichever thread
** frees, and a budget lives until its last allocation is gone (a reference
** per allocation), so a late free never touches freed memory. Context
** sandboxes are charged to their own budget and to one pool shared by all
** of them, so that contexts together cannot take the memory the file
** database needs. SQLite's own hard heap limit stays behind all of it. */
typedef struct sb_mem {
    _Atomic int64_t used;          /* bytes charged now */
    _Atomic int64_t limit;         /* 0: no limit */
    struct sb_mem  *pool;          /* charged as well; NULL: none */
    atomic_long     refs;          /* 1 for the owner + 1 per live allocation */
    atomic_int      refused;       /* SB_MEM_OWN or SB_MEM_POOL once an allocation was refused */
} sb_mem;

enum { SB_MEM_OWN = 1, SB_MEM_POOL = 2 };

/* Header before each allocation: 16 bytes keeps the 16-byte alignment. */
typedef struct sb_mem_hdr {
    sb_mem *owner;
    size_t  size;
} sb_mem_hdr;
_Static_assert(sizeof(sb_mem_hdr) == 16, "allocation header must keep 16-byte alignment");

static sb_mem sb_context_pool = { .limit = 96 * 1024 * 1024, .refs = 1 };
static _Thread_local sb_mem *sb_mem_current;
static bool sb_mem_installed;

static bool mem_charge_one(sb_mem *m, int64_t n) {
    int64_t limit = atomic_load_explicit(&m->limit, memory_order_relaxed);
    int64_t now = atomic_fetch_add_explicit(&m->used, n, memory_order_relaxed) + n;
    if (limit > 0 && n > 0 && now > limit) {
        atomic_fetch_sub_explicit(&m->used, n, memory_order_relaxed);
        return false;
    }
    return true;
}

/* Charges n bytes to m and its pool; false (and nothing charged) when
** either would go over its limit. */
static bool mem_charge(sb_mem *m, int64_t n) {
    if (!mem_charge_one(m, n)) {
        atomic_store_explicit(&m->refused, SB_MEM_OWN, memory_order_relaxed);
        return false;
    }
    if (m->pool && !mem_charge_one(m->pool, n)) {
        atomic_fetch_sub_explicit(&m->used, n, memory_order_relaxed);
        atomic_store_explicit(&m->refused, SB_MEM_POOL, memory_order_relaxed);
        return false;
    }
    return true;
}

static void mem_uncharge(sb_mem *m, int64_t n) {
    atomic_fetch_sub_explicit(&m->used, n, memory_order_relaxed);
    if (m->pool) atomic_fetch_sub_explicit(&m->pool->used, n, memory_order_relaxed);
}

static void mem_release(sb_mem *m) {
    if (m && m != &sb_context_pool && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) free(m);
}

static void *mem_malloc(int n) {
    if (n <= 0) return NULL;
    sb_mem *m = sb_mem_current;
    if (m && !mem_charge(m, n)) return NULL;
    sb_mem_hdr *h = malloc(sizeof *h + (size_t)n);
    if (!h) {
        if (m) mem_uncharge(m, n);
        return NULL;
    }
    if (m) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    h->owner = m;
    h->size = (size_t)n;
    return h + 1;
}

static void mem_free(void *p) {
    if (!p) return;
    sb_mem_hdr *h = (sb_mem_hdr *)p - 1;
    sb_mem *m = h->owner;
    if (m) mem_uncharge(m, (int64_t)h->size);
    free(h);
    mem_release(m);
}

static void *mem_realloc(void *p, int n) {
    if (!p) return mem_malloc(n);
    if (n <= 0) return NULL;
    sb_mem_hdr *h = (sb_mem_hdr *)p - 1;
    sb_mem *m = h->owner;
    int64_t delta = (int64_t)n - (int64_t)h->size;
    /* the allocation stays with the budget it was first charged to */
    if (m && delta > 0 && !mem_charge(m, delta)) return NULL;
    sb_mem_hdr *g = realloc(h, sizeof *g + (size_t)n);
    if (!g) {
        if (m && delta > 0) mem_uncharge(m, delta);
        return NULL;
    }
    if (m && delta < 0) mem_uncharge(m, -delta);
    g->size = (size_t)n;
    return g + 1;
}

static int mem_size(void *p) { return p ? (int)((sb_mem_hdr *)p - 1)->size : 0; }
static int mem_roundup(int n) { return (n + 7) & ~7; }
static int mem_init(void *unused) { return SQLITE_OK; }
static void mem_shutdown(void *unused) {}

/* Installed before main, so before anything else in the process can use
** SQLite (sqlite3_config must come before sqlite3_initialize). When that
** fails, only the process-wide heap limit applies. */
__attribute__((constructor)) static void sb_mem_install(void) {
    static const sqlite3_mem_methods methods = {
        mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
    };
    sb_mem_installed = sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) == SQLITE_OK;
}

static sb_mem *mem_new(int64_t limit, sb_mem *pool) {
    sb_mem *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    atomic_init(&m->used, 0);
    atomic_init(&m->limit, limit);
    atomic_init(&m->refs, 1);
    atomic_init(&m->refused, 0);
    m->pool = pool;
    return m;
}

/* Charges what runs on this thread from here on to m; returns the budget
** to put back with mem_leave. */
static sb_mem *mem_enter(sb_mem *m) {
    sb_mem *saved = sb_mem_current;
    sb_mem_current = m;
    return saved;
}

static void mem_leave(sb_mem *saved) { sb_mem_current = saved; }

typedef enum sb_auth_mode {
    SB_AUTH_LOAD,      /* context loading: CREATE TABLE and INSERT only */
    SB_AUTH_READONLY,  /* everything else: reads only */
} sb_auth_mode;


/* Built-in functions that can run long inside one call, where the progress
** handler never gets a say: instr/replace/trim compare every position of
** one input with the other (quadratic), json_patch matches every key of one
** object with every key of the other, and printf/format with a huge width
** or precision loop up to it even when the result is too long to keep.
** The sandbox replaces them with guards that check their inputs first and
** then let the real built-in compute the result on a private helper
** connection. */
typedef enum sb_guard_kind { SB_GUARD_PRODUCT, SB_GUARD_PRINTF } sb_guard_kind;

static const struct {
    const char   *name;
    int           nargs;  /* -1: any number */
    sb_guard_kind kind;
} sb_guarded_fns[] = {
    {"instr", 2, SB_GUARD_PRODUCT},      {"replace", 3, SB_GUARD_PRODUCT}, {"trim", 2, SB_GUARD_PRODUCT},
    {"ltrim", 2, SB_GUARD_PRODUCT},      {"rtrim", 2, SB_GUARD_PRODUCT},   {"json_patch", 2, SB_GUARD_PRODUCT},
    {"printf", -1, SB_GUARD_PRINTF},     {"format", -1, SB_GUARD_PRINTF},
};
#define SB_NGUARDED (sizeof sb_guarded_fns / sizeof sb_guarded_fns[0])

typedef struct sb_guard {
    struct sandbox *sb;
    int             fn;  /* index in sb_guarded_fns */
} sb_guard;

struct sandbox {
    sqlite3     *db;
    sb_limits    lim;
    sb_auth_mode mode;
    int64_t      deadline_ns;   /* monotonic clock; progress handler stops past it */
    bool         timed_out;     /* the progress handler stopped the statement */
    char         deny_reason[256];  /* why the authorizer refused in this run, or "" */
    bool         deny_reason_weak;  /* deny_reason is about the schema table only */
    char         stop_reason[256];  /* why a function guard stopped this run, or "" */
    sb_guard     guards[SB_NGUARDED];
    sqlite3     *helper;            /* plain in-memory connection running guarded built-ins */
    sqlite3_stmt *helper_stmts[SB_NGUARDED][SB_MAX_FUNCTION_ARGS + 1];  /* by function, argument count */
    sb_mem       *mem;              /* what this sandbox's SQLite work is charged to */
    char         *path;             /* the database file; NULL for a context */
    char          file_kind[64];    /* "" or why the file holds no database ("the file is empty") */
};

int64_t sb_memory_used(const sandbox *sb) {
    return sb && sb->mem ? atomic_load(&sb->mem->used) : 0;
}

int64_t sb_context_pool_used(void) { return atomic_load(&sb_context_pool.used); }

/* PRAGMAs a statement may use: they only read the schema. */
static const char *const sb_pragma_whitelist[] = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info",
    "index_xinfo", "foreign_key_list",
    "data_version",  /* read by FTS5 virtual tables while they run */
    NULL,
};

/* The pragmas a statement may read, as the messages list them (also as
** pragma_* table-valued functions, prewarmed below). */
#define SB_ALLOWED_PRAGMAS "table_info, table_xinfo, table_list, index_list, index_info, index_xinfo, foreign_key_list"

/* Functions that reach outside the database or hand out pointers. */
static const char *const sb_function_denylist[] = {
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", NULL,
};

/* Eponymous virtual tables that are connected before the authorizer is
** installed: connecting one reports schema-table writes to the authorizer,
** which it must refuse, so only these (and the database's own virtual
** tables) can be queried. */
static const char *const sb_prewarm_sql[] = {
    "SELECT * FROM json_each('[]')",
    "SELECT * FROM json_tree('[]')",
    "SELECT * FROM pragma_table_info('')",
    "SELECT * FROM pragma_table_xinfo('')",
    "SELECT * FROM pragma_table_list",
    "SELECT * FROM pragma_index_list('')",
    "SELECT * FROM pragma_index_info('')",
    "SELECT * FROM pragma_index_xinfo('')",
    "SELECT * FROM pragma_foreign_key_list('')",
    NULL,
};

void sb_limits_default(sb_limits *lim) {
    assert(lim);
    lim->timeout_ms = 5000;
    lim->max_rows = 1000;
    lim->count_cap = 100000;
    lim->max_result_bytes = 4 * 1024 * 1024;
    lim->max_value_bytes = 1024 * 1024;
    lim->max_sql_bytes = 100000;
    lim->heap_limit_bytes = 256 * 1024 * 1024;
    lim->mem_limit_bytes = 128 * 1024 * 1024;
    lim->context_mem_limit_bytes = 32 * 1024 * 1024;
    lim->context_pool_bytes = 96 * 1024 * 1024;
}

/* ------------------------------------------------------ SQL text scanning */

/* SQLite's own whitespace; anything else (e.g. \v) counts as more SQL. */
static bool is_sql_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* Skips whitespace, comments and, when semicolons is set, empty statements.
** An unterminated block comment runs to the end, as in SQLite. */
static const char *skip_filler(const char *p, const char *end, bool semicolons) {
    for (;;) {
        while (p < end && (is_sql_space(*p) || (semicolons && *p == ';'))) p++;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            p += 2;
            while (p < end && *p != '\n') p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            p += 2;
            while (end - p >= 2 && !(p[0] == '*' && p[1] == '/')) p++;
            p = end - p >= 2 ? p + 2 : end;
        } else {
            return p;
        }
    }
}

/* Copies the keyword (ASCII letters) at p into buf, upper-cased; returns the
** position after it. An empty buf means no keyword starts at p. */
static const char *read_keyword(const char *p, const char *end, char *buf, size_t bufsize) {
    size_t n = 0;
    while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
        if (n + 1 < bufsize) buf[n++] = (char)(*p >= 'a' ? *p - 32 : *p);
        p++;
    }
    buf[n] = '\0';
    return p;
}

static bool keyword_in(const char *kw, const char *const *list) {
    for (size_t i = 0; list[i]; i++)
        if (strcmp(kw, list[i]) == 0) return true;
    return false;
}

/* Names the kind of a CREATE or DROP statement from its leading keywords
** ("CREATE TEMP TABLE", "DROP INDEX"), else gives its first keyword; buf
** is "" when the statement starts with no keyword. */
static void describe_statement(const char *p, const char *end, char *buf, size_t size) {
    static const char *const ddl_words[] = {"TEMP", "TEMPORARY", "UNIQUE", "VIRTUAL", NULL};
    static const char *const object_words[] = {"TABLE", "VIEW", "INDEX", "TRIGGER", NULL};
    char kw[16];
    p = read_keyword(skip_filler(p, end, true), end, kw, sizeof kw);
    snprintf(buf, size, "%s", kw);
    if (strcmp(kw, "CREATE") != 0 && strcmp(kw, "DROP") != 0) return;
    for (int words = 0; words < 3; words++) {
        p = read_keyword(skip_filler(p, end, false), end, kw, sizeof kw);
        bool object = keyword_in(kw, object_words);
        if (!object && !keyword_in(kw, ddl_words)) return;
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, " %s", strcmp(kw, "TEMPORARY") == 0 ? "TEMP" : kw);
        if (object) return;
    }
}

/* True when an '=' appears outside quotes and comments: the assigning form
** of a PRAGMA. */
static bool has_assignment(const char *p, const char *end) {
    while (p < end) {
        p = skip_filler(p, end, true);
        if (p >= end) break;
        char c = *p;
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            p++;
            while (p < end && *p != close) p++;
            if (p < end) p++;
        } else {
            if (c == '=') return true;
            p++;
        }
    }
    return false;
}

/* ----------------------------------------------------------- authorizer */

static bool name_in(const char *name, const char *const *list) {
    if (!name) return false;
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(name, list[i]) == 0) return true;
    return false;
}

static bool is_schema_table(const char *name) {
    return name && (strcasecmp(name, "sqlite_master") == 0 || strcasecmp(name, "sqlite_schema") == 0 ||
                    strcasecmp(name, "sqlite_temp_master") == 0 || strcasecmp(name, "sqlite_temp_schema") == 0);
}

static const char *action_name(int action) {
    switch (action) {
    case SQLITE_CREATE_INDEX:       return "CREATE INDEX";
    case SQLITE_CREATE_TABLE:       return "CREATE TABLE";
    case SQLITE_CREATE_TEMP_INDEX:  return "CREATE TEMP INDEX";
    case SQLITE_CREATE_TEMP_TABLE:  return "CREATE TEMP TABLE";
    case SQLITE_CREATE_TEMP_TRIGGER:return "CREATE TEMP TRIGGER";
    case SQLITE_CREATE_TEMP_VIEW:   return "CREATE TEMP VIEW";
    case SQLITE_CREATE_TRIGGER:     return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW:        return "CREATE VIEW";
    case SQLITE_DROP_INDEX:         return "DROP INDEX";
    case SQLITE_DROP_TABLE:         return "DROP TABLE";
    case SQLITE_DROP_TEMP_INDEX:    return "DROP TEMP INDEX";
    case SQLITE_DROP_TEMP_TABLE:    return "DROP TEMP TABLE";
    case SQLITE_DROP_TEMP_TRIGGER:  return "DROP TEMP TRIGGER";
    case SQLITE_DROP_TEMP_VIEW:     return "DROP TEMP VIEW";
    case SQLITE_DROP_TRIGGER:       return "DROP TRIGGER";
    case SQLITE_DROP_VIEW:          return "DROP VIEW";
    case SQLITE_ALTER_TABLE:        return "ALTER TABLE";
    case SQLITE_REINDEX:            return "REINDEX";
    case SQLITE_ANALYZE:            return "ANALYZE";
    case SQLITE_CREATE_VTABLE:      return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_VTABLE:        return "DROP VIRTUAL TABLE";
    case SQLITE_COPY:               return "COPY";
    default:                        return "this statement";
    }
}

/* Records why the authorizer refused and returns SQLITE_DENY. The first
** reason of a run wins, as later ones are usually consequences, except that
** a write to the schema table (weak: SQLite makes one first for most DDL)
** gives way to the next, more telling reason (e.g. CREATE VIRTUAL TABLE). */
static int deny(sandbox *sb, bool weak, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int deny(sandbox *sb, bool weak, const char *fmt, ...) {
    if (sb->deny_reason[0] == '\0' || (sb->deny_reason_weak && !weak)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sb->deny_reason, sizeof sb->deny_reason, fmt, ap);
        va_end(ap);
        sb->deny_reason_weak = weak;
    }
    return SQLITE_DENY;
}

static int sb_authorize(void *ctx, int action, const char *a1, const char *a2,
                        const char *db_name, const char *trigger) {
    sandbox *sb = ctx;
    const bool loading = sb->mode == SB_AUTH_LOAD;
    const char *where = loading ? "in the context (only CREATE TABLE and INSERT are allowed)"
                                : "(the sandbox is read-only)";
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
        return SQLITE_OK;
    case SQLITE_RECURSIVE:
        if (loading) return deny(sb, false, "a recursive CTE is not allowed %s", where);
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (name_in(a2, sb_function_denylist))
            return deny(sb, false, "function %s() is not allowed in the sandbox", a2);
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        if (!loading && name_in(a1, sb_pragma_whitelist)) return SQLITE_OK;
        return deny(sb, false, "PRAGMA %s is not allowed (allowed: " SB_ALLOWED_PRAGMAS ", also as pragma_* "
                        "table-valued functions such as pragma_table_info('t'))", a1 ? a1 : "?");
    case SQLITE_CREATE_TABLE:
        if (loading && db_name && strcmp(db_name, "main") == 0) return SQLITE_OK;
        return deny(sb, false, "CREATE TABLE is not allowed %s", where);
    case SQLITE_CREATE_INDEX:
        /* The index behind a PRIMARY KEY or UNIQUE constraint of a table
        ** being created; users cannot choose such names themselves. */
        if (loading && a1 && strncmp(a1, "sqlite_autoindex_", 17) == 0) return SQLITE_OK;
        return deny(sb, false, "CREATE INDEX is not allowed %s", where);
    case SQLITE_INSERT:
        if (loading) return SQLITE_OK;
        return deny(sb, is_schema_table(a1), "INSERT into %s is not allowed %s", a1 ? a1 : "?", where);
    case SQLITE_UPDATE:
        /* CREATE TABLE records itself by updating the schema table. */
        if (loading && is_schema_table(a1)) return SQLITE_OK;
        if (is_schema_table(a1))
            return deny(sb, true, "writing the schema table %s is not allowed %s (connecting a virtual "
                            "table other than json_each, json_tree and the allowed pragma_* functions also needs it)", a1, where);
        return deny(sb, false, "UPDATE of %s is not allowed %s", a1 ? a1 : "?", where);
    case SQLITE_DELETE:
        return deny(sb, is_schema_table(a1), "DELETE from %s is not allowed %s", a1 ? a1 : "?", where);
    case SQLITE_ATTACH:
        return deny(sb, false, "ATTACH is not allowed %s", where);
    case SQLITE_DETACH:
        return deny(sb, false, "DETACH is not allowed %s", where);
    case SQLITE_TRANSACTION:
        return deny(sb, false, "transaction control (%s) is not allowed %s", a1 ? a1 : "?", where);
    case SQLITE_SAVEPOINT: {
        /* a1 is the operation: BEGIN for SAVEPOINT itself */
        const char *op = !a1 ? "SAVEPOINT" : strcmp(a1, "RELEASE") == 0 ? "RELEASE"
                       : strcmp(a1, "ROLLBACK") == 0 ? "ROLLBACK TO" : "SAVEPOINT";
        return deny(sb, false, "transaction control (%s %s) is not allowed %s", op, a2 ? a2 : "", where);
    }
    default:
        return deny(sb, false, "%s is not allowed %s", action_name(action), where);
    }
}

static int sb_progress(void *ctx) {
    sandbox *sb = ctx;
    if (clock_now_ns() >= sb->deadline_ns) {
        sb->timed_out = true;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------ opening, set-up */

static int check_limits(const sb_limits *lim, sa_err *err) {
    if (lim->timeout_ms <= 0) return sa_fail(err, "sandbox: timeout must be positive (got %" PRId64 " ms)", lim->timeout_ms);
    if (lim->max_rows < 0) return sa_fail(err, "sandbox: row limit must not be negative (got %" PRId64 ")", lim->max_rows);
    if (lim->count_cap < lim->max_rows)
        return sa_fail(err, "sandbox: row counting cap (%" PRId64 ") is below the row limit (%" PRId64 ")",
                       lim->count_cap, lim->max_rows);
    if (lim->max_result_bytes <= 0) return sa_fail(err, "sandbox: result byte limit must be positive");
    if (lim->max_value_bytes <= 0) return sa_fail(err, "sandbox: value length limit must be positive");
    if (lim->max_sql_bytes <= 0) return sa_fail(err, "sandbox: SQL length limit must be positive");
    if (lim->heap_limit_bytes < 0) return sa_fail(err, "sandbox: heap limit must not be negative");
    if (lim->mem_limit_bytes < 0 || lim->context_mem_limit_bytes < 0)
        return sa_fail(err, "sandbox: memory budget must not be negative");
    if (lim->context_pool_bytes < 0) return sa_fail(err, "sandbox: context memory pool must not be negative");
    return 0;
}

/* "file:" URI for path with every byte but unreserved ones percent-encoded,
** so that nothing in the name ("?", "#", "%") can add URI parameters. */
static char *read_only_uri(const char *path) {
    size_t n = strlen(path);
    char *uri = malloc(16 + 3 * n + 16);
    if (!uri) return NULL;
    char *w = uri;
    w += sprintf(w, path[0] == '/' ? "file://" : "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
            *w++ = (char)c;
        else
            w += sprintf(w, "%%%02X", c);
    }
    strcpy(w, "?mode=ro");
    return uri;
}

static int exec_setup(sandbox *sb, const char *sql, sa_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(sb->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sa_fail(err, "sandbox set-up failed on \"%s\": %s", sql, msg ? msg : sqlite3_errmsg(sb->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Prepares (which connects) a virtual table while no authorizer is
** installed; failures only mean the table will not be usable. */
static void prewarm(sandbox *sb, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(sb->db, sql, -1, 0, &st, NULL) == SQLITE_OK) sqlite3_finalize(st);
}

/* Connects the database's own virtual tables (FTS, R-tree) up front, for
** the reason given at sb_prewarm_sql. */
static void prewarm_own_virtual_tables(sandbox *sb) {
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'";
    if (sqlite3_prepare_v3(sb->db, sql, -1, 0, &st, NULL) != SQLITE_OK) return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *q = sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 0", (const char *)sqlite3_column_text(st, 0));
        if (q) prewarm(sb, q);
        sqlite3_free(q);
    }
    sqlite3_finalize(st);
}

/* ------------------------------------------------------ function guards */

/* Records why a guard stopped the statement; the step fails with it. */
static void guard_stop(sqlite3_context *ctx, sandbox *sb, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void guard_stop(sqlite3_context *ctx, sandbox *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sb->stop_reason, sizeof sb->stop_reason, fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, sb->stop_reason, -1);
}

/* Checks the widths and precisions of a printf() format (literal digits and
** '*' arguments alike) against the value length limit, following SQLite's
** own parsing: each conversion but %% and %n takes one argument, after the
** ones its '*'s take. */
static bool printf_args_ok(sandbox *sb, const char *name, int argc, sqlite3_value **argv, char *why, size_t whysize) {
    const char *fmt = (const char *)sqlite3_value_text(argv[0]);
    int64_t limit = sb->lim.max_value_bytes;
    int next = 1;
    for (const char *p = fmt; p && *p; p++) {
        if (*p != '%') continue;
        p++;
        int64_t number = 0;
        for (; *p && strchr("-+ #!0,123456789*.l", *p); p++) {
            int64_t v = -1;
            if (*p >= '0' && *p <= '9') {
                number = number > limit ? number : number * 10 + (*p - '0');
                v = number;
            } else {
                number = 0;
                if (*p == '*') {
                    int64_t a = next < argc ? sqlite3_value_int64(argv[next]) : 0;
                    next++;
                    v = a < 0 ? (a == INT64_MIN ? INT64_MAX : -a) : a;
                }
            }
            if (v > limit) {
                snprintf(why, whysize, "a width or precision in %s() exceeded the value length limit of %" PRId64
                         " bytes", name, limit);
                return false;
            }
        }
        if (*p == '\0') break;
        if (*p != '%' && *p != 'n') next++;
    }
    return true;
}

static sqlite3_stmt *helper_stmt(sandbox *sb, int fn, int argc) {
    assert(argc >= 0 && argc <= SB_MAX_FUNCTION_ARGS);
    if (sb->helper_stmts[fn][argc]) return sb->helper_stmts[fn][argc];
    if (!sb->helper) {
        if (sqlite3_open_v2(":memory:", &sb->helper, SQLITE_OPEN_READWRITE | SQLITE_OPEN_PRIVATECACHE, NULL) != SQLITE_OK)
            return NULL;
        sqlite3_limit(sb->helper, SQLITE_LIMIT_LENGTH, sb->lim.max_value_bytes);
        sqlite3_limit(sb->helper, SQLITE_LIMIT_ATTACHED, 0);
    }
    strbuf sql = {0};
    strbuf_printf(&sql, "SELECT %s(", sb_guarded_fns[fn].name);
    for (int i = 1; i <= argc; i++) strbuf_printf(&sql, "%s?%d", i > 1 ? ", " : "", i);
    strbuf_puts(&sql, ")");
    char *text = strbuf_take(&sql);
    if (!text) return NULL;
    if (sqlite3_prepare_v3(sb->helper, text, -1, SQLITE_PREPARE_PERSISTENT, &sb->helper_stmts[fn][argc], NULL) !=
        SQLITE_OK)
        sb->helper_stmts[fn][argc] = NULL;
    free(text);
    return sb->helper_stmts[fn][argc];
}

static void guarded_function(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const sb_guard *g = sqlite3_user_data(ctx);
    sandbox *sb = g->sb;
    const char *name = sb_guarded_fns[g->fn].name;
    char why[200];
    if (argc > SB_MAX_FUNCTION_ARGS) {
        sqlite3_result_error(ctx, "too many arguments", -1);
        return;
    }
    if (sb_guarded_fns[g->fn].kind == SB_GUARD_PRINTF) {
        if (argc > 0 && !printf_args_ok(sb, name, argc, argv, why, sizeof why)) {
            /* as the built-in would fail, but with the reason */
            guard_stop(ctx, sb, "%s", why);
            return;
        }
    } else {
        int64_t work = (int64_t)sqlite3_value_bytes(argv[0]) * sqlite3_value_bytes(argv[1]);
        if (work > SB_FUNCTION_WORK_LIMIT) {
            guard_stop(ctx, sb, "%s() on inputs of %d and %d bytes exceeds the per-call work limit of %lld "
                       "byte comparisons", name, sqlite3_value_bytes(argv[0]), sqlite3_value_bytes(argv[1]),
                       (long long)SB_FUNCTION_WORK_LIMIT);
            return;
        }
    }
    sqlite3_stmt *st = helper_stmt(sb, g->fn, argc);
    if (!st) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (int i = 0; i < argc; i++) sqlite3_bind_value(st, i + 1, argv[i]);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sqlite3_value *v = sqlite3_column_value(st, 0);
        sqlite3_result_value(ctx, v);
        /* json_patch() returns JSON, which enclosing json functions must
        ** not quote as a string. */
        if (strcmp(name, "json_patch") == 0 && sqlite3_value_type(v) == SQLITE_TEXT) sqlite3_result_subtype(ctx, 'J');
    } else if ((rc & 0xFF) == SQLITE_TOOBIG) {
        sqlite3_result_error_toobig(ctx);
    } else if ((rc & 0xFF) == SQLITE_NOMEM) {
        sqlite3_result_error_nomem(ctx);
    } else {
        sqlite3_result_error(ctx, sqlite3_errmsg(sb->helper), -1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Puts the guards in place of the built-ins on sb's connection. */
static int install_guards(sandbox *sb, sa_err *err) {
    for (size_t i = 0; i < SB_NGUARDED; i++) {
        sb->guards[i].sb = sb;
        sb->guards[i].fn = (int)i;
        if (sqlite3_create_function_v2(sb->db, sb_guarded_fns[i].name, sb_guarded_fns[i].nargs,
                                       SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, &sb->guards[i],
                                       guarded_function, NULL, NULL, NULL) != SQLITE_OK)
            return sa_fail(err, "sandbox set-up failed: cannot guard %s(): %s", sb_guarded_fns[i].name,
                           sqlite3_errmsg(sb->db));
    }
    return 0;
}

/* Settings shared by both kinds of sandbox; runs before the authorizer. */
static int configure(sandbox *sb, sa_err *err) {
    sqlite3 *db = sb->db;
    const sb_limits *lim = &sb->lim;
    int ignored;
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &ignored) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &ignored) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, &ignored) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &ignored) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 0, &ignored) != SQLITE_OK ||
        sqlite3_db_config(db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, 0, &ignored) != SQLITE_OK ||
        sqlite3_enable_load_extension(db, 0) != SQLITE_OK)
        return sa_fail(err, "sandbox set-up failed: %s", sqlite3_errmsg(db));

    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, lim->max_value_bytes);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, lim->max_sql_bytes);
    sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 1000);
    sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 200);
    sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 50);
    sqlite3_limit(db, SQLITE_LIMIT_VDBE_OP, 100000);
    sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, SB_MAX_FUNCTION_ARGS);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    /* LIKE/GLOB cost grows with text length times pattern length, all inside
    ** one call: 100 bytes keeps the worst case near 0.2 s on 1 MiB of text. */
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 100);
    sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, 100);
    sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 1);
    sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);

    if (lim->heap_limit_bytes > 0) {
        sqlite3_hard_heap_limit64(lim->heap_limit_bytes);
        sqlite3_soft_heap_limit64(lim->heap_limit_bytes / 2);
    }
    /* Temporary tables and sort spills stay in memory: under the heap limit,
    ** and no temp files. */
    if (exec_setup(sb, "PRAGMA temp_store = MEMORY", err) < 0 || install_guards(sb, err) < 0) return -1;
    for (size_t i = 0; sb_prewarm_sql[i]; i++) prewarm(sb, sb_prewarm_sql[i]);

    sb->deadline_ns = clock_now_ns() + sb->lim.timeout_ms * 1000000;
    sqlite3_progress_handler(db, SB_PROGRESS_OPS, sb_progress, sb);
    return 0;
}

/* A sandbox with its memory budget (charged to the context pool too
** when context is set); nothing opened yet. */
static sandbox *sandbox_new(const sb_limits *lim, bool context, sa_err *err) {
    sb_limits chosen;
    if (lim) chosen = *lim;
    else sb_limits_default(&chosen);
    if (check_limits(&chosen, err) < 0) return NULL;
    sandbox *sb = calloc(1, sizeof *sb);
    int64_t budget = context && chosen.context_mem_limit_bytes > 0 ? chosen.context_mem_limit_bytes : chosen.mem_limit_bytes;
    if (sb) sb->mem = mem_new(budget, context ? &sb_context_pool : NULL);
    if (!sb || !sb->mem) {
        free(sb);
        sa_fail(err, "sandbox: out of memory");
        return NULL;
    }
    if (context && chosen.context_pool_bytes > 0) atomic_store(&sb_context_pool.limit, chosen.context_pool_bytes);
    sb->lim = chosen;
    sb->mode = SB_AUTH_READONLY;
    return sb;
}

/* Why the file at path cannot hold tables although SQLite opens it (an
** empty file or a device reads as an empty database), or "". */
static void describe_file(const char *path, char *buf, size_t size) {
    struct stat st;
    buf[0] = '\0';
    if (stat(path, &st) != 0) return;
    if (S_ISREG(st.st_mode) && st.st_size == 0) snprintf(buf, size, "the file is empty");
    else if (!S_ISREG(st.st_mode)) snprintf(buf, size, "it is not a regular file");
}

static sandbox *open_db(sandbox *sb, const char *path, sa_err *err);

/* A writer that stopped mid-transaction leaves a hot journal (or a WAL to
** recover), which only a connection with write access may roll back; a
** read-only one gets "attempt to write a readonly database". */
static bool needs_recovery(sqlite3 *db) {
    int x = sqlite3_extended_errcode(db);
    return x == SQLITE_READONLY_ROLLBACK || x == SQLITE_READONLY_RECOVERY;
}

static int recovery_failure(const char *path, sa_err *err) {
    return sa_fail(err, "cannot open database '%s': it needs recovery by its owner (a write was interrupted and left "
                   "a hot journal that a read-only connection cannot roll back); opening it once with write access, "
                   "e.g. sqlite3 '%s' 'PRAGMA quick_check', repairs it", path, path);
}

sandbox *sb_open_db(const char *path, const sb_limits *lim, sa_err *err) {
    if (!path || !path[0]) {
        sa_fail(err, "sandbox: no database path given");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        sa_fail(err, "cannot open database '%s': it is a directory, not a SQLite database file", path);
        return NULL;
    }
    sandbox *sb = sandbox_new(lim, false, err);
    if (!sb) return NULL;
    sb->path = strdup(path);
    if (!sb->path) {
        sa_fail(err, "sandbox: out of memory");
        sb_close(sb);
        return NULL;
    }
    describe_file(path, sb->file_kind, sizeof sb->file_kind);
    sb_mem *saved = mem_enter(sb->mem);
    sb = open_db(sb, path, err);
    mem_leave(saved);
    return sb;
}

/* The rest of sb_open_db, charged to sb's budget; closes sb on failure. */
static sandbox *open_db(sandbox *sb, const char *path, sa_err *err) {
    char *uri = read_only_uri(path);
    if (!uri) {
        sa_fail(err, "sandbox: out of memory");
        sb_close(sb);
        return NULL;
    }
    int rc = sqlite3_open_v2(uri, &sb->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_PRIVATECACHE, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        sa_fail(err, "cannot open database '%s': %s", path, sb->db ? sqlite3_errmsg(sb->db) : "out of memory");
        sb_close(sb);
        return NULL;
    }
    /* Settings first, so that the schema is read with them in force; then
    ** reading it is what finds a file that is missing or not a database,
    ** as opening is lazy. */
    if (configure(sb, err) < 0) {
        sa_err_prefix(err, "database '%s'", path);
        sb_close(sb);
        return NULL;
    }
    if (exec_setup(sb, "SELECT count(*) FROM sqlite_schema", err) < 0) {
        if (needs_recovery(sb->db))
            recovery_failure(path, err);
        else
            sa_fail(err, "cannot open database '%s': %s", path, sqlite3_errmsg(sb->db));
        sb_close(sb);
        return NULL;
    }
    if (exec_setup(sb, "PRAGMA query_only = 1", err) < 0) {
        sa_err_prefix(err, "database '%s'", path);
        sb_close(sb);
        return NULL;
    }
    prewarm_own_virtual_tables(sb);
    sb->mode = SB_AUTH_READONLY;
    sqlite3_set_authorizer(sb->db, sb_authorize, sb);
    return sb;
}

/* Human message for a failed step or prepare, naming the limit that
** stopped it where one did. */
static int step_failure(sandbox *sb, int rc, sa_err *err) {
    /* A refusal can surface as another error, e.g. "vtable constructor
    ** failed" when the authorizer refused connecting a virtual table. */
    if (sb->deny_reason[0] && (rc & 0xFF) != SQLITE_INTERRUPT)
        return sa_fail(err, "refused: %s", sb->deny_reason);
    if (sb->stop_reason[0]) return sa_fail(err, "stopped: %s", sb->stop_reason);
    switch (rc & 0xFF) {
    case SQLITE_INTERRUPT:
        if (sb->timed_out)
            return sa_fail(err, "stopped: wall-time limit of %" PRId64 " ms exceeded", sb->lim.timeout_ms);
        return sa_fail(err, "stopped: interrupted");
    case SQLITE_TOOBIG:
        return sa_fail(err, "stopped: a string, blob or row exceeded the value length limit of %d bytes",
                       sb->lim.max_value_bytes);
    case SQLITE_NOMEM: {
        int by = atomic_load(&sb->mem->refused);
        if (by == SB_MEM_OWN)
            return sa_fail(err, "stopped: memory limit reached (this database's budget of %" PRId64 " bytes)",
                           atomic_load(&sb->mem->limit));
        if (by == SB_MEM_POOL)
            return sa_fail(err, "stopped: memory limit reached (the %" PRId64 " bytes shared by all context "
                           "databases are in use; try again later)", atomic_load(&sb_context_pool.limit));
        sqlite3_int64 heap = sqlite3_hard_heap_limit64(-1);
        if (heap > 0)
            return sa_fail(err, "stopped: memory limit reached (SQLite heap limit of %lld bytes)", (long long)heap);
        return sa_fail(err, "stopped: out of memory");
    }
    case SQLITE_AUTH:
        return sa_fail(err, "refused: %s", sb->deny_reason[0] ? sb->deny_reason : "not authorized");
    default: {
        if (sb->path && needs_recovery(sb->db)) return recovery_failure(sb->path, err);
        int off = sqlite3_error_offset(sb->db);
        if (off >= 0) return sa_fail(err, "SQL error: %s (at offset %d)", sqlite3_errmsg(sb->db), off);
        return sa_fail(err, "SQL error: %s", sqlite3_errmsg(sb->db));
    }
    }
}

/* Runs one statement of the context text, which must be a CREATE TABLE or an
** INSERT; *next is set past it. Returns 1 when a statement ran, 0 at the
** end of the text, -1 on failure. */
static int load_one(sandbox *sb, const char *p, const char *end, const char **next, int number, sa_err *err) {
    p = skip_filler(p, end, true);
    if (p >= end) return 0;
    char kw[16], kw2[16];
    const char *after = read_keyword(p, end, kw, sizeof kw);
    read_keyword(skip_filler(after, end, false), end, kw2, sizeof kw2);
    bool ok = strcmp(kw, "INSERT") == 0 || (strcmp(kw, "CREATE") == 0 && strcmp(kw2, "TABLE") == 0);
    if (!ok)
        return sa_fail(err, "context statement %d: only CREATE TABLE and INSERT statements are allowed, got \"%s%s%s\"",
                       number, kw[0] ? kw : "?", strcmp(kw, "CREATE") == 0 ? " " : "",
                       strcmp(kw, "CREATE") == 0 ? kw2 : "");
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    sb->deny_reason[0] = '\0';
    sb->deny_reason_weak = false;
    sb->stop_reason[0] = '\0';
    sb->timed_out = false;
    atomic_store(&sb->mem->refused, 0);
    size_t left = (size_t)(end - p);
    int rc = sqlite3_prepare_v3(sb->db, p, left > INT32_MAX ? INT32_MAX : (int)left, 0, &st, &tail);
    if (rc != SQLITE_OK) {
        step_failure(sb, rc, err);
        sa_err_prefix(err, "context statement %d", number);
        return -1;
    }
    *next = tail ? tail : end;
    if (!st) return 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) {
        step_failure(sb, rc, err);
        sqlite3_finalize(st);
        sa_err_prefix(err, "context statement %d", number);
        return -1;
    }
    sqlite3_finalize(st);
    return 1;
}

static sandbox *open_context(sandbox *sb, const char *sql, size_t len, sa_err *err);

sandbox *sb_open_context(const char *sql, const sb_limits *lim, sa_err *err) {
    if (!sql) {
        sa_fail(err, "context: no SQL given");
        return NULL;
    }
    size_t len = strlen(sql), bad;
    if (len > SB_CONTEXT_MAX_BYTES) {
        sa_fail(err, "context: %zu bytes of SQL, over the limit of %d bytes", len, SB_CONTEXT_MAX_BYTES);
        return NULL;
    }
    if (!utf8_valid(sql, len, &bad)) {
        sa_fail(err, "context: SQL is not valid UTF-8 (bad byte at offset %zu)", bad);
        return NULL;
    }
    sandbox *sb = sandbox_new(lim, true, err);
    if (!sb) return NULL;
    sb_mem *saved = mem_enter(sb->mem);
    sb = open_context(sb, sql, len, err);
    mem_leave(saved);
    return sb;
}

/* The rest of sb_open_context, charged to sb's budget; closes sb on failure. */
static sandbox *open_context(sandbox *sb, const char *sql, size_t len, sa_err *err) {
    if (sqlite3_open_v2(":memory:", &sb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_PRIVATECACHE,
                        NULL) != SQLITE_OK) {
        sa_fail(err, "context: cannot open an in-memory database: %s", sb->db ? sqlite3_errmsg(sb->db) : "out of memory");
        sb_close(sb);
        return NULL;
    }
    if (configure(sb, err) < 0) {
        sa_err_prefix(err, "context");
        sb_close(sb);
        return NULL;
    }
    sb->mode = SB_AUTH_LOAD;
    sqlite3_set_authorizer(sb->db, sb_authorize, sb);
    int stmt_limit = sb->lim.max_sql_bytes > SB_CONTEXT_STMT_BYTES ? sb->lim.max_sql_bytes : SB_CONTEXT_STMT_BYTES;
    sqlite3_limit(sb->db, SQLITE_LIMIT_SQL_LENGTH, stmt_limit);

    const char *p = sql, *end = sql + len;
    int number = 1, created = 0, rc;
    for (;;) {
        const char *start = skip_filler(p, end, true);
        rc = load_one(sb, p, end, &p, number, err);
        if (rc <= 0) break;
        char kw[8];
        read_keyword(start, end, kw, sizeof kw);
        if (strcmp(kw, "CREATE") == 0) created++;
        number++;
    }
    if (rc == 0 && created == 0) rc = sa_fail(err, "context: no CREATE TABLE statement found");
    if (rc < 0) {
        sb_close(sb);
        return NULL;
    }
    /* Lock it: reads only from here on. query_only is set with the
    ** authorizer out of the way, as the authorizer refuses every PRAGMA
    ** that assigns. */
    sqlite3_set_authorizer(sb->db, NULL, NULL);
    sqlite3_limit(sb->db, SQLITE_LIMIT_SQL_LENGTH, sb->lim.max_sql_bytes);
    if (exec_setup(sb, "PRAGMA query_only = 1", err) < 0) {
        sb_close(sb);
        return NULL;
    }
    sb->mode = SB_AUTH_READONLY;
    sqlite3_set_authorizer(sb->db, sb_authorize, sb);
    return sb;
}

void sb_close(sandbox *sb) {
    if (!sb) return;
    int64_t held = atomic_load(&sb->mem->used);
    sb_mem *saved = mem_enter(sb->mem);
    sqlite3_close_v2(sb->db);
    for (size_t i = 0; i < SB_NGUARDED; i++)
        for (int n = 0; n <= SB_MAX_FUNCTION_ARGS; n++) sqlite3_finalize(sb->helper_stmts[i][n]);
    sqlite3_close_v2(sb->helper);
    mem_leave(saved);
    mem_release(sb->mem);
    free(sb->path);
    free(sb);
#ifdef __GLIBC__
    /* A big context's pages go back to the system rather than stay in the
    ** malloc arena of whichever thread loaded it (a server loads contexts
    ** on many threads, each with its arena). */
    if (held >= SB_TRIM_BYTES) malloc_trim(0);
#endif
}

int sb_require_tables(sandbox *sb, sa_err *err) {
    sb_result r;
    if (sb_run(sb, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
               &r, err) < 0)
        return -1;
    int64_t n = r.nrows == 1 && r.cells[0].type == SB_INTEGER ? r.cells[0].i : 0;
    sb_result_free(&r);
    if (n > 0) return 0;
    if (!sb->path) return sa_fail(err, "the database has no tables");
    if (sb->file_kind[0]) return sa_fail(err, "database '%s' has no tables (%s)", sb->path, sb->file_kind);
    return sa_fail(err, "database '%s' has no tables", sb->path);
}

const sb_limits *sb_get_limits(const sandbox *sb) {
    assert(sb);
    return &sb->lim;
}

sqlite3 *sb_raw_handle(sandbox *sb) {
    assert(sb);
    return sb->db;
}

/* ------------------------------------------------------------- running */

void sb_result_free(sb_result *r) {
    if (!r) return;
    for (int c = 0; c < r->ncols; c++) {
        if (r->col_names) free(r->col_names[c]);
        if (r->col_decltypes) free(r->col_decltypes[c]);
    }
    free(r->col_names);
    free(r->col_decltypes);
    if (r->cells) {
        for (int64_t i = 0; i < r->nrows * r->ncols; i++) free(r->cells[i].bytes);
    }
    free(r->cells);
    memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Fills the column names and declared types of r from st. */
static int take_columns(sqlite3_stmt *st, sb_result *r, sa_err *err) {
    int n = sqlite3_column_count(st);
    r->col_names = calloc((size_t)(n ? n : 1), sizeof *r->col_names);
    r->col_decltypes = calloc((size_t)(n ? n : 1), sizeof *r->col_decltypes);
    if (!r->col_names || !r->col_decltypes) return sa_fail(err, "out of memory");
    r->ncols = n;
    for (int c = 0; c < n; c++) {
        const char *name = sqlite3_column_name(st, c);
        r->col_names[c] = strdup(name ? name : "?");
        r->col_decltypes[c] = dup_or_null(sqlite3_column_decltype(st, c));
        if (!r->col_names[c]) return sa_fail(err, "out of memory");
    }
    return 0;
}

/* Bytes the current row of st would add to the result. */
static int64_t row_bytes(sqlite3_stmt *st, int ncols) {
    int64_t total = 0;
    for (int c = 0; c < ncols; c++) {
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
        case SQLITE_FLOAT: total += 8; break;
        case SQLITE_TEXT:  total += sqlite3_column_bytes(st, c); break;
        case SQLITE_BLOB:  total += sqlite3_column_bytes(st, c); break;
        default: break;
        }
    }
    return total;
}

/* Appends the current row of st to r; -1 when out of memory. */
static int keep_row(sqlite3_stmt *st, sb_result *r, int64_t *capacity) {
    if (r->nrows == *capacity) {
        int64_t cap = *capacity ? *capacity * 2 : 16;
        sb_value *grown = realloc(r->cells, (size_t)(cap * (r->ncols ? r->ncols : 1)) * sizeof *grown);
        if (!grown) return -1;
        r->cells = grown;
        *capacity = cap;
    }
    sb_value *row = r->cells + r->nrows * r->ncols;
    memset(row, 0, (size_t)r->ncols * sizeof *row);
    r->nrows++;  /* counted now, so that a failure below frees what was copied */
    for (int c = 0; c < r->ncols; c++) {
        sb_value *v = &row[c];
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: v->type = SB_INTEGER; v->i = sqlite3_column_int64(st, c); break;
        case SQLITE_FLOAT:   v->type = SB_REAL; v->r = sqlite3_column_double(st, c); break;
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
            bool text = sqlite3_column_type(st, c) == SQLITE_TEXT;
            const void *p = text ? (const void *)sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
            size_t n = (size_t)sqlite3_column_bytes(st, c);
            if (!p && n > 0) return -1;
            v->type = text ? SB_TEXT : SB_BLOB;
            v->bytes = malloc(n + 1);
            if (!v->bytes) return -1;
            if (n) memcpy(v->bytes, p, n);
            v->bytes[n] = '\0';
            v->len = n;
            break;
        }
        default: v->type = SB_NULL; break;
        }
    }
    return 0;
}

/* Statement kinds that can read; the authorizer and sqlite3_stmt_readonly
** decide, this is the last guard behind them. */
static const char *const sb_read_keywords[] = {"SELECT", "WITH", "VALUES", "EXPLAIN", "PRAGMA", NULL};

/* Finds a pragma_NAME identifier whose NAME is not an allowed pragma;
** copies it into buf. */
static bool find_unknown_pragma_fn(const char *p, const char *end, char *buf, size_t size) {
    static const char *const allowed[] = {"table_info", "table_xinfo", "table_list", "index_list", "index_info",
                                          "index_xinfo", "foreign_key_list", NULL};
    for (const char *q = p; end - q > 7; q++) {
        if (strncasecmp(q, "pragma_", 7) != 0) continue;
        if (q > p && (isalnum((unsigned char)q[-1]) || q[-1] == '_')) continue;
        const char *e = q + 7;
        while (e < end && (isalnum((unsigned char)*e) || *e == '_')) e++;
        char name[64];
        size_t n = (size_t)(e - (q + 7));
        if (n == 0 || n >= sizeof name) continue;
        memcpy(name, q + 7, n);
        name[n] = '\0';
        if (name_in(name, allowed)) continue;
        snprintf(buf, size, "%.*s", (int)(e - q), q);
        return true;
    }
    return false;
}

/* Every check before a statement may run; on success *stmt_out is ready. */
static int prepare_checked(sandbox *sb, const char *sql, size_t len, sqlite3_stmt **stmt_out, sa_err *err) {
    const char *end = sql + len;
    const char *nul = memchr(sql, '\0', len);
    if (nul) return sa_fail(err, "refused: SQL contains a NUL byte at offset %zu", (size_t)(nul - sql));
    size_t bad;
    if (!utf8_valid(sql, len, &bad)) return sa_fail(err, "refused: SQL is not valid UTF-8 (bad byte at offset %zu)", bad);
    if (len > (size_t)sb->lim.max_sql_bytes)
        return sa_fail(err, "refused: SQL is %zu bytes, over the SQL length limit of %d bytes", len, sb->lim.max_sql_bytes);
    const char *start = skip_filler(sql, end, true);
    if (start >= end) return sa_fail(err, "empty SQL: no statement to run");

    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(sb->db, sql, (int)len, 0, &st, &tail);
    char kind[48];
    describe_statement(start, end, kind, sizeof kind);
    if (rc != SQLITE_OK && sb->deny_reason_weak && (strncmp(kind, "CREATE", 6) == 0 || strncmp(kind, "DROP", 4) == 0))
        /* SQLite stopped at the schema-table write that comes first; the
        ** statement's own kind says more. */
        return sa_fail(err, "refused: %s is not allowed (the sandbox is read-only)", kind);
    char pragma_fn[64];
    if (rc != SQLITE_OK && sb->deny_reason_weak && find_unknown_pragma_fn(sql, end, pragma_fn, sizeof pragma_fn))
        /* connecting that pragma's virtual table is what wrote the schema */
        return sa_fail(err, "refused: %s() is not allowed; the pragma_* functions allowed are pragma_%s (the "
                       "sandbox is read-only)", pragma_fn, "table_info, pragma_table_xinfo, pragma_table_list, "
                       "pragma_index_list, pragma_index_info, pragma_index_xinfo and pragma_foreign_key_list");
    if (rc != SQLITE_OK) return step_failure(sb, rc, err);
    if (!st) return sa_fail(err, "empty SQL: no statement to run");
    const char *rest = skip_filler(tail ? tail : end, end, true);
    if (rest < end) {
        sqlite3_finalize(st);
        return sa_fail(err, "refused: only one statement is allowed, but more SQL follows at offset %zu: \"%.40s\"",
                       (size_t)(rest - sql), rest);
    }
    char kw[16];
    read_keyword(start, end, kw, sizeof kw);
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return sa_fail(err, "refused: %s is not a read-only statement (the sandbox is read-only)",
                       kind[0] ? kind : "the statement");
    }
    if (!keyword_in(kw, sb_read_keywords)) {
        sqlite3_finalize(st);
        return sa_fail(err, "refused: only SELECT, WITH, VALUES, EXPLAIN and read-only PRAGMA statements run, got %s",
                       kw[0] ? kw : "something else");
    }
    if (strcmp(kw, "PRAGMA") == 0 && has_assignment(start, end)) {
        sqlite3_finalize(st);
        return sa_fail(err, "refused: PRAGMA assignments are not allowed (the sandbox is read-only)");
    }
    *stmt_out = st;
    return 0;
}

/* After the last kept row: counts on without keeping, up to the cap.
** Failures while only counting end the count instead of the run. */
static void count_rest(sandbox *sb, sqlite3_stmt *st, sb_result *r, int rc_first, char *why, size_t whysize) {
    int rc = rc_first;
    while (rc == SQLITE_ROW) {
        if (r->total_rows >= sb->lim.count_cap) {
            r->total_at_least = true;
            return;
        }
        r->total_rows++;
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        sa_err e;
        step_failure(sb, rc, &e);
        snprintf(why, whysize, "; counting %.*s", (int)(whysize > 16 ? whysize - 16 : 0), e.msg);
        r->total_at_least = true;
    }
}

static int run_len(sandbox *sb, const char *sql, size_t len, sb_result *out, sa_err *err);

int sb_run_len(sandbox *sb, const char *sql, size_t len, sb_result *out, sa_err *err) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!sb) return sa_fail(err, "sandbox: not open");
    if (!sql) return sa_fail(err, "sandbox: no SQL given");
    sb_mem *saved = mem_enter(sb->mem);
    int rc = run_len(sb, sql, len, out, err);
    mem_leave(saved);
    return rc;
}

/* The rest of sb_run_len, charged to sb's budget. */
static int run_len(sandbox *sb, const char *sql, size_t len, sb_result *out, sa_err *err) {
    int64_t t0 = clock_now_ns();
    sb->deny_reason[0] = '\0';
    sb->deny_reason_weak = false;
    sb->stop_reason[0] = '\0';
    sb->timed_out = false;
    atomic_store(&sb->mem->refused, 0);
    sb->deadline_ns = t0 + sb->lim.timeout_ms * 1000000;

    sqlite3_stmt *st = NULL;
    if (prepare_checked(sb, sql, len, &st, err) < 0) return -1;
    if (take_columns(st, out, err) < 0) goto fail;

    int64_t capacity = 0, kept_bytes = 0;
    char why[160] = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t bytes = row_bytes(st, out->ncols);
        if (out->nrows >= sb->lim.max_rows) {
            out->truncated = true;
            snprintf(out->note, sizeof out->note, "row limit of %" PRId64 " rows reached", sb->lim.max_rows);
            break;
        }
        if (kept_bytes + bytes > sb->lim.max_result_bytes) {
            out->truncated = true;
            snprintf(out->note, sizeof out->note, "result size limit of %" PRId64 " bytes reached",
                     sb->lim.max_result_bytes);
            break;
        }
        if (keep_row(st, out, &capacity) < 0) {
            sa_fail(err, "stopped: out of memory while keeping row %" PRId64, out->nrows);
            goto fail;
        }
        kept_bytes += bytes;
        out->total_rows++;
    }
    if (out->truncated) {
        count_rest(sb, st, out, rc, why, sizeof why);
        size_t used = strlen(out->note);
        snprintf(out->note + used, sizeof out->note - used, "; %s%" PRId64 " rows in total%s",
                 out->total_at_least ? "at least " : "", out->total_rows, why);
    } else if (rc != SQLITE_DONE) {
        step_failure(sb, rc, err);
        goto fail;
    }
    sqlite3_finalize(st);
    out->elapsed_ms = (double)(clock_now_ns() - t0) / 1e6;
    return 0;

fail:
    sqlite3_finalize(st);
    sb_result_free(out);
    return -1;
}

int sb_run(sandbox *sb, const char *sql, sb_result *out, sa_err *err) {
    return sb_run_len(sb, sql, sql ? strlen(sql) : 0, out, err);
}

/* ------------------------------------------------------------ rendering */

/* A real as SQLite's shell shows it: shortest round trip, always with a
** decimal point or exponent so it reads as a real. */
static void format_real(double r, char *buf, size_t size) {
    if (isinf(r)) {
        snprintf(buf, size, r > 0 ? "Infinity" : "-Infinity");
        return;
    }
    snprintf(buf, size, "%.15g", r);
    if (strtod(buf, NULL) != r) snprintf(buf, size, "%.17g", r);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", size - strlen(buf) - 1);
}

static int escape_text(const char *s, size_t len, int max_width, strbuf *b);

/* One cell as display text, cut to max_width display columns; returns its
** display width. Control characters and bad UTF-8 bytes are escaped. */
static int cell_text(const sb_value *v, int max_width, strbuf *b) {
    char tmp[64];
    switch (v->type) {
    case SB_NULL: strbuf_puts(b, "NULL"); return 4;
    case SB_INTEGER: snprintf(tmp, sizeof tmp, "%" PRId64, v->i); strbuf_puts(b, tmp); return (int)strlen(tmp);
    case SB_REAL: format_real(v->r, tmp, sizeof tmp); strbuf_puts(b, tmp); return (int)strlen(tmp);
    case SB_BLOB: {
        int width = 3;
        strbuf_puts(b, "x'");
        for (size_t i = 0; i < v->len; i++) {
            if (width + 2 > max_width - 2) { strbuf_puts(b, "\xE2\x80\xA6"); width++; break; }
            snprintf(tmp, sizeof tmp, "%02X", (unsigned char)v->bytes[i]);
            strbuf_puts(b, tmp);
            width += 2;
        }
        strbuf_puts(b, "'");
        return width;
    }
    case SB_TEXT: break;
    }
    return escape_text(v->bytes, v->len, max_width, b);
}

/* Text as a terminal may show it, cut to max_width display columns (with
** "…"); returns its display width. Control characters (C0, DEL, C1: ESC,
** BEL, CSI, OSC ...), invisible format characters and bad UTF-8 bytes are
** written as escapes, so no text can move the cursor, retitle or clear the
** terminal, or read as something it is not. */
static int escape_text(const char *s, size_t len, int max_width, strbuf *b) {
    char tmp[64];
    int width = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        const char *esc = NULL;
        int w;
        if (k == 0) {
            snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned char)s[i]);
            esc = tmp; k = 1;
        } else if (cp == '\n') esc = "\\n";
        else if (cp == '\t') esc = "\\t";
        else if (cp == '\r') esc = "\\r";
        else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned)cp);
            esc = tmp;
        } else if (utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CF) {
            /* Invisible format characters (bidi overrides, zero-width
            ** spaces) could make a cell read as something it is not. */
            snprintf(tmp, sizeof tmp, "\\u%04X", (unsigned)cp);
            esc = tmp;
        }
        w = esc ? (int)strlen(esc) : utf8proc_charwidth((utf8proc_int32_t)cp);
        if (w < 0) w = 0;
        if (width + w > max_width - 1 && i + (size_t)k < len) {
            strbuf_puts(b, "\xE2\x80\xA6");  /* "…" */
            return width + 1;
        }
        if (esc) strbuf_puts(b, esc);
        else strbuf_append(b, s + i, (size_t)k);
        width += w;
        i += (size_t)k;
    }
    return width;
}

char *sb_display_text(const char *s) {
    strbuf b = {0};
    if (!s) s = "(null)";
    escape_text(s, strlen(s), INT_MAX, &b);
    return strbuf_take(&b);
}

void sb_print_text(FILE *f, const char *s) {
    char *t = sb_display_text(s);
    fputs(t ? t : "(out of memory)", f);
    free(t);
}

/* Display width of a column name as cell_text shows it. */
static int text_width(char *s, int max_width) {
    sb_value v = {.type = SB_TEXT, .bytes = s, .len = strlen(s)};
    strbuf scratch = {0};
    int w = cell_text(&v, max_width, &scratch);
    strbuf_free(&scratch);
    return w;
}

static void pad(strbuf *b, int n) {
    for (int i = 0; i < n; i++) strbuf_append(b, " ", 1);
}

char *sb_result_to_table(const sb_result *r, int max_cell_width) {
    assert(r);
    if (max_cell_width <= 0) max_cell_width = 60;
    if (max_cell_width < 8) max_cell_width = 8;
    int ncols = r->ncols;
    size_t ncells = (size_t)r->nrows * (size_t)ncols;
    char **texts = calloc(ncells ? ncells : 1, sizeof *texts);
    int *widths = calloc(ncells ? ncells : 1, sizeof *widths);
    int *colw = calloc(ncols ? (size_t)ncols : 1, sizeof *colw);
    strbuf out = {0};
    if (!texts || !widths || !colw) {
        out.oom = 1;
        goto done;
    }
    for (int c = 0; c < ncols; c++) colw[c] = text_width(r->col_names[c], max_cell_width);
    for (size_t i = 0; i < ncells; i++) {
        strbuf cell = {0};
        widths[i] = cell_text(&r->cells[i], max_cell_width, &cell);
        texts[i] = strbuf_take(&cell);
        if (!texts[i]) {
            out.oom = 1;
            goto done;
        }
        int c = (int)(i % (size_t)ncols);
        if (widths[i] > colw[c]) colw[c] = widths[i];
    }
    if (ncols > 0) {
        for (int c = 0; c < ncols; c++) {
            if (c) strbuf_puts(&out, " | ");
            sb_value name = {.type = SB_TEXT, .bytes = r->col_names[c], .len = strlen(r->col_names[c])};
            int w = cell_text(&name, max_cell_width, &out);
            if (c + 1 < ncols) pad(&out, colw[c] - w);
        }
        strbuf_puts(&out, "\n");
        for (int c = 0; c < ncols; c++) {
            if (c) strbuf_puts(&out, "-+-");
            for (int k = 0; k < colw[c]; k++) strbuf_append(&out, "-", 1);
        }
        strbuf_puts(&out, "\n");
    }
    for (int64_t row = 0; row < r->nrows; row++) {
        for (int c = 0; c < ncols; c++) {
            size_t i = (size_t)row * (size_t)ncols + (size_t)c;
            sb_type t = r->cells[i].type;
            bool right = t == SB_INTEGER || t == SB_REAL;
            if (c) strbuf_puts(&out, " | ");
            if (right) pad(&out, colw[c] - widths[i]);
            strbuf_puts(&out, texts[i]);
            if (!right && c + 1 < ncols) pad(&out, colw[c] - widths[i]);
        }
        strbuf_puts(&out, "\n");
    }
    strbuf_printf(&out, "(%" PRId64 " row%s)\n", r->nrows, r->nrows == 1 ? "" : "s");
    if (r->truncated) strbuf_printf(&out, "truncated: %s\n", r->note);
done:
    for (size_t i = 0; texts && i < ncells; i++) free(texts[i]);
    free(texts);
    free(widths);
    free(colw);
    return strbuf_take(&out);
}

/* The text form's precision of reals (JSON_REAL_PRECISION). */
#define RESULT_REAL_DIGITS 10

/* x as the text form writes it and a JSON parser reads it back: rounded to
** RESULT_REAL_DIGITS significant digits. NULL where a parser refuses the
** text (rounded past the largest double). */
static json_t *json_real_as_text(double x) {
    char t[40];
    snprintf(t, sizeof t, "%.*g", RESULT_REAL_DIGITS, x);
    errno = 0;
    double d = strtod(t, NULL);
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) return NULL;
    return json_real(d);
}

/* One cell. as_text: as the text form parses back (json_real_as_text; a
** text value holding a NUL byte, which a parser refuses as \u0000, gives
** NULL). */
static json_t *json_value(const sb_value *v, bool as_text) {
    switch (v->type) {
    case SB_NULL: return json_null();
    case SB_INTEGER: return json_integer((json_int_t)v->i);
    case SB_REAL:
        if (isinf(v->r)) return json_string(v->r > 0 ? "Infinity" : "-Infinity");
        if (isnan(v->r)) return json_null();
        return as_text ? json_real_as_text(v->r) : json_real(v->r);
    case SB_TEXT:
        if (as_text && memchr(v->bytes, 0, v->len)) return NULL;
        return json_text(v->bytes, v->len);
    case SB_BLOB: {
        char *hex = malloc(v->len * 2 + 1);
        if (!hex) return NULL;
        for (size_t i = 0; i < v->len; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)v->bytes[i]);
        hex[v->len * 2] = '\0';
        json_t *o = json_pack("{s:s}", "hex", hex);
        free(hex);
        return o;
    }
    }
    return NULL;
}

/* json_array_append_new that tells failure (a NULL value included). */
static bool append(json_t *arr, json_t *v) {
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *result_object(const sb_result *r, bool as_text) {
    assert(r);
    json_t *root = json_object();
    json_t *cols = json_array(), *types = json_array(), *rows = json_array();
    /* The arrays belong to root from here on; the pointers stay usable. */
    bool ok = root && json_object_set_new(root, "columns", cols) == 0 &&
              json_object_set_new(root, "types", types) == 0 &&
              json_object_set_new(root, "rows", rows) == 0;
    for (int c = 0; ok && c < r->ncols; c++) {
        ok = append(cols, json_text(r->col_names[c], strlen(r->col_names[c]))) &&
             append(types, r->col_decltypes[c] ? json_string(r->col_decltypes[c]) : json_null());
    }
    for (int64_t row = 0; ok && row < r->nrows; row++) {
        json_t *jr = json_array();
        ok = append(rows, jr);
        for (int c = 0; ok && c < r->ncols; c++) ok = append(jr, json_value(&r->cells[row * r->ncols + c], as_text));
    }
    ok = ok && json_object_set_new(root, "row_count", json_integer(r->nrows)) == 0 &&
         json_object_set_new(root, "total_rows", json_integer(r->total_rows)) == 0 &&
         json_object_set_new(root, "total_rows_at_least", json_boolean(r->total_at_least)) == 0 &&
         json_object_set_new(root, "truncated", json_boolean(r->truncated)) == 0 &&
         json_object_set_new(root, "note", json_text(r->note, strlen(r->note))) == 0 &&
         json_object_set_new(root, "elapsed_ms", as_text ? json_real_as_text(r->elapsed_ms) : json_real(r->elapsed_ms)) == 0;
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *sb_result_json(const sb_result *r) { return result_object(r, true); }

char *sb_result_to_json(const sb_result *r) {
    json_t *root = result_object(r, false);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(RESULT_REAL_DIGITS)) : NULL;
    json_decref(root);
    if (!text) return NULL;
    /* Hand back a plain malloc'd string whatever allocator jansson uses. */
    char *copy = strdup(text);
    json_malloc_t jmalloc;
    json_free_t jfree;
    json_get_alloc_funcs(&jmalloc, &jfree);
    jfree(text);
    return copy;
}
