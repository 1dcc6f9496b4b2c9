/*
** sandbox.h — runs one model-written SQL statement against SQLite so that it
** can read but never change anything, and cannot run away with time or memory.
**
** Two ways to open a sandbox:
**   sb_open_db       the user's database file, opened read-only;
**   sb_open_context  a fresh in-memory database loaded from CREATE TABLE (and
**                    INSERT) statements, sql-create-context style; after the
**                    load it is locked exactly like a file database.
**
** Layers that keep a database read-only (each one alone should suffice):
**   - the file is opened with SQLITE_OPEN_READONLY through a "file:" URI
**     with mode=ro, and PRAGMA query_only=1 (not `immutable`: that skips
**     locking, so a query could read a half-written state if another
**     process writes the file meanwhile);
**   - an authorizer denies every write action, ATTACH/DETACH, transaction
**     control, CREATE/DROP/ALTER of anything (TEMP objects included), every
**     PRAGMA except a small read-only whitelist, and risky functions
**     (load_extension, readfile, writefile, edit, fts3_tokenizer);
**   - sqlite3_stmt_readonly() must hold, exactly one statement is accepted,
**     and its first keyword must be SELECT, WITH, VALUES, EXPLAIN or PRAGMA;
**   - connection settings: DEFENSIVE on, TRUSTED_SCHEMA off, extension
**     loading off, triggers off, ATTACH limit 0.
**
** Limits a statement cannot escape (defaults in sb_limits_default):
**   wall time per sb_run      progress handler against a monotonic deadline,
**                             checked every 1000 VM instructions;
**   rows kept / rows counted  rows beyond max_rows are counted, not kept, up
**                             to count_cap, so the true count can be told;
**   result bytes              values kept are summed; over the limit, later
**                             rows are counted but not kept;
**   value length              SQLITE_LIMIT_LENGTH: any string/blob/row;
**   memory of one sandbox     a budget per sandbox (mem_limit_bytes): every
**                             allocation SQLite makes while one of this
**                             sandbox's calls runs on a thread is charged to
**                             it, whatever thread frees it later, so one
**                             request's context or query fails alone;
**                             context sandboxes are also charged to one pool
**                             shared by all of them (context_pool_bytes,
**                             PROCESS-GLOBAL: the last sb_open_context with
**                             a value > 0 sets it), so that contexts together
**                             cannot take what the file database needs;
**   SQLite heap               sqlite3_hard_heap_limit64 — PROCESS-GLOBAL:
**                             the last line behind the budgets, it caps all
**                             SQLite memory of the process; the last
**                             sb_open_* with heap_limit_bytes > 0 sets it.
**                             Temporary storage is kept in memory so big
**                             sorts meet these limits instead of writing
**                             temp files.
** Hitting the row or byte limit truncates the result (sb_result.truncated,
** with a note naming the limit); the others stop the statement with an
** error naming the limit.
**
** Work inside one call of a built-in function escapes the deadline (the VM
** does not run between its instructions), so such work is bounded by size:
** instr, replace, trim/ltrim/rtrim and json_patch are replaced by guards
** that refuse inputs whose lengths multiply past 5e7, printf/format by one
** that refuses widths or precisions past the value length limit (the guards
** then run the real built-in on a private helper connection); LIKE/GLOB
** patterns are limited to 100 bytes. An in-memory sort, one VM step, is
** bounded only by the heap limit and can overrun the deadline by about a
** second at the default limits.
**
** Side files: a database in WAL mode needs its -wal and -shm files; when
** they are missing SQLite creates them even for a read-only connection (and
** leaves them). The database file itself is never written.
**
** A sandbox is used by one thread at a time.
*/
#ifndef SA_SANDBOX_H
#define SA_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/err.h"

typedef struct sqlite3 sqlite3;

typedef struct sb_limits {
    int64_t timeout_ms;        /* wall time of one sb_run (and of the context load) */
    int64_t max_rows;          /* rows kept in the result */
    int64_t count_cap;         /* rows stepped through at most, for the true count */
    int64_t max_result_bytes;  /* bytes of values kept (text/blob length, 8 per number) */
    int     max_value_bytes;   /* longest string, blob or row (SQLITE_LIMIT_LENGTH) */
    int     max_sql_bytes;     /* longest statement text */
    int64_t heap_limit_bytes;  /* process-global SQLite heap cap; 0 leaves it alone */
    int64_t mem_limit_bytes;   /* a file sandbox's SQLite memory (connection, cache, queries); 0: none */
    int64_t context_mem_limit_bytes; /* a context sandbox's (its tables and queries); 0: mem_limit_bytes */
    int64_t context_pool_bytes;/* all context sandboxes together, process-global; 0 leaves it alone */
} sb_limits;

/* Defaults: 5000 ms, 1000 rows kept, 100000 rows counted, 4 MiB of result,
** 1 MiB per value, 100000 bytes of SQL, 256 MiB SQLite heap, 128 MiB per
** file sandbox, 32 MiB per context sandbox and 96 MiB for all contexts
** together (so the file database's 128 MiB stay free whatever the
** contexts hold, and three heavy contexts at once still leave room). */
void sb_limits_default(sb_limits *lim);

typedef enum sb_type { SB_NULL, SB_INTEGER, SB_REAL, SB_TEXT, SB_BLOB } sb_type;

typedef struct sb_value {
    sb_type type;
    int64_t i;         /* SB_INTEGER */
    double  r;         /* SB_REAL */
    char   *bytes;     /* SB_TEXT (NUL-terminated, as stored: not always UTF-8) / SB_BLOB */
    size_t  len;       /* byte length of bytes, without the terminator */
} sb_value;

typedef struct sb_result {
    int       ncols;
    char    **col_names;      /* ncols strings */
    char    **col_decltypes;  /* ncols entries; NULL where the column is an expression */
    int64_t   nrows;          /* rows kept */
    sb_value *cells;          /* nrows * ncols, row-major */
    int64_t   total_rows;     /* rows the statement produced, counted up to count_cap */
    bool      total_at_least; /* counting stopped at count_cap: total_rows is a lower bound */
    bool      truncated;      /* fewer rows kept than produced */
    char      note[256];      /* when truncated: which limit, in words; else "" */
    double    elapsed_ms;     /* prepare + run, wall clock */
} sb_result;

typedef struct sandbox sandbox;

/* Opens the SQLite database at path read-only under lim (NULL: defaults).
** Fails if the file is missing, is a directory or is not a SQLite
** database, or has a hot journal it cannot roll back ("needs recovery by
** its owner"). An empty file opens as a database without tables. */
sandbox *sb_open_db(const char *path, const sb_limits *lim, sa_err *err);

/* 0 when the database has at least one table; else -1 with "database
** 'PATH' has no tables" (and why, for an empty file or a device), for
** commands that cannot do anything useful without one. */
int sb_require_tables(sandbox *sb, sa_err *err);

/* Makes an in-memory database from create_and_insert_sql, in which only
** CREATE TABLE and INSERT statements are accepted (anything else fails with
** the statement's number), then locks it like sb_open_db does. */
sandbox *sb_open_context(const char *create_and_insert_sql, const sb_limits *lim, sa_err *err);

/* Runs exactly one read-only statement (NUL-terminated sql) and fills *out,
** which the caller frees with sb_result_free whatever the outcome.
** Returns 0, or -1 with the reason (refusal or the limit that stopped it). */
int sb_run(sandbox *sb, const char *sql, sb_result *out, sa_err *err);

/* As sb_run, for SQL given as len bytes, which may hold NUL bytes or
** invalid UTF-8 — both are refused with a message saying where. */
int sb_run_len(sandbox *sb, const char *sql, size_t len, sb_result *out, sa_err *err);

/* Frees what sb_run put into r and zeroes it; safe on a zeroed result. */
void sb_result_free(sb_result *r);

/* Closes the database; NULL is allowed. */
void sb_close(sandbox *sb);

/* The limits in force (defaults filled in). */
const sb_limits *sb_get_limits(const sandbox *sb);

/* SQLite memory charged to sb's budget now, and to the pool shared by
** context sandboxes (for tests and metrics). */
int64_t sb_memory_used(const sandbox *sb);
int64_t sb_context_pool_used(void);

/* The underlying connection, for benchmarks and tests only: statements
** prepared on it still pass the authorizer but skip every other check. */
sqlite3 *sb_raw_handle(sandbox *sb);

/* Renders r as an aligned text table with a "(N rows)" footer (plus the
** truncation note). Cells are cut to max_cell_width display columns
** (0: 60); control characters are shown escaped. Returns a malloc'd string,
** or NULL when out of memory. */
char *sb_result_to_table(const sb_result *r, int max_cell_width);

/* The one escaping function for text bound for a terminal: s with control
** characters (C0 including ESC and BEL, DEL, C1 including CSI and OSC),
** invisible format characters and bad UTF-8 bytes written as \n, \xNN,
** \uNNNN escapes, as result cells are. malloc'd; NULL when out of memory. */
char *sb_display_text(const char *s);
/* Writes sb_display_text(s) to f. */
void sb_print_text(FILE *f, const char *s);

/* Renders r as one line of JSON:
**   {"columns":[..],"types":[..],"rows":[[..]],"row_count":N,"total_rows":N,
**    "total_rows_at_least":bool,"truncated":bool,"note":"..","elapsed_ms":X}
** row_count is the number of rows in "rows". Text that is not valid UTF-8
** has its bad bytes replaced by U+FFFD; blobs are {"hex":".."}; infinite
** reals are the strings "Infinity"/"-Infinity". Returns a malloc'd string,
** or NULL when out of memory. */
char *sb_result_to_json(const sb_result *r);

/* The same object as a jansson value (the caller owns it), for callers
** that add to it or nest it before writing JSON once: it holds what the
** text above parses back to, so that it writes the same bytes (reals
** rounded to the text's 10 significant digits). NULL when out of memory,
** or where a JSON parser would refuse the text (a text value holding a NUL
** byte; a real that rounds past the largest double): callers show no
** result then. */
json_t *sb_result_json(const sb_result *r);

#endif
