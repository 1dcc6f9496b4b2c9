/*
** schema.h — what a database contains (tables, columns, keys, a few sample
** rows), read through a sandbox. Rendering it as prompt text (CREATE TABLE
** statements, cut to a budget) is agent/schema_prompt.h's.
**
** Introspection runs ordinary statements through sb_run (sqlite_schema via
** pragma_table_list, pragma_table_info, pragma_foreign_key_list, SELECT ...
** LIMIT n), so it needs nothing the sandbox does not allow anyway.
*/
#ifndef SA_SCHEMA_H
#define SA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "sql/sandbox.h"
#include "util/err.h"

typedef struct sc_column {
    char *name;
    char *decl_type;   /* as declared, "" when none */
    bool  not_null;
    int   pk_position; /* 0: not in the primary key; else 1-based position in it */
} sc_column;

typedef struct sc_fkey {
    int    ncols;
    char **from_cols;  /* columns of this table */
    char  *to_table;
    char **to_cols;    /* entries NULL when the reference names no column (its primary key) */
} sc_fkey;

typedef struct sc_table {
    char      *name;
    bool       is_virtual;
    bool       is_view;   /* a view: queried like a table, no keys */
    sc_column *cols;
    int        ncols;
    sc_fkey   *fkeys;
    int        nfkeys;
    sb_result  samples;   /* up to the requested number of rows; zeroed when none */
    char      *samples_error; /* why the sample rows could not be read (they are left out), or NULL */
} sc_table;

typedef struct sc_schema {
    sc_table *tables;     /* in the database's order */
    int       ntables;
} sc_schema;

/* Reads every table and view of sb's main database except SQLite's internal
** ones, virtual tables' shadow tables and views that no longer compile (a
** column or table they name is gone), with up to
** sample_rows rows each (0: none); a table whose rows cannot be read gets
** no samples and says why in samples_error, and the rest goes on. Each listing is one sb_run, so at most
** the sandbox's max_rows tables, and columns per table, are read.
** Fills *out (free with sc_free) and returns 0, or -1 with the reason. */
int sc_introspect(sandbox *sb, int sample_rows, sc_schema *out, sa_err *err);

/* Frees what sc_introspect put into s and zeroes it; safe on a zeroed schema. */
void sc_free(sc_schema *s);

/* The table called name (case-insensitive), or NULL. */
const sc_table *sc_find_table(const sc_schema *s, const char *name);

/* A declared type's affinity, by SQLite's rules reduced: 1 integer (INT),
** 2 real (REAL, FLOA, DOUB, NUM, DEC), 0 text or none. */
int sc_type_affinity(const char *decl);

#endif
