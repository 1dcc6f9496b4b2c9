/*
** schema_prompt.h — a database's schema (sql/schema.h) as prompt text:
** compact CREATE TABLE statements for a model's prompt, with or without
** sample rows, whole or cut to a budget by relevance to the question
** (stemmed word overlap, foreign-key neighbours, a report of what was left
** out), and sql-create-context's plain style for models trained on it.
**
** Rendering never copies the database's own CREATE text (which may carry
** comments or odd tokens); it writes fresh statements: identifiers are
** quoted when they are not plain words, declared types are kept only when
** they are plain, and sample rows sit inside one comment block marked as
** data, with every value escaped and cut so that no value can close the
** comment or span lines.
*/
#ifndef SA_SCHEMA_PROMPT_H
#define SA_SCHEMA_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "../sql/schema.h"
#include "../util/err.h"

/* Rendering flags. SC_RENDER_SAMPLES: a comment block of the table's sample
** rows after its statement (true converts to it). SC_RENDER_COMPACT: no
** declared types and no NOT NULL, keeping the names, the primary key and
** the references, for small models that read a whole schema in a few
** hundred tokens.
** SC_RENDER_RELEVANT (sc_render_budget only): when some table matches the
** question, only the matching tables and those joining two of them, however
** much room is left.
** SC_RENDER_VALUES (sc_render_budget only, with a values callback): value
** anchors, BRIDGE-style (Lin et al. 2020): after a text column's name, the
** longest span of the question (1–3 words, neither first nor last a stop
** word; the first when several are as long) that the column holds, as an
** SQL string — "status ('delivered')" — so that a small model sees which
** column a value of the question lives in. Anchors change no table's
** relevance. */
enum { SC_RENDER_SAMPLES = 1u, SC_RENDER_COMPACT = 2u, SC_RENDER_RELEVANT = 4u, SC_RENDER_VALUES = 8u };

/* One CREATE TABLE statement for t (flags as above), followed, with
** SC_RENDER_SAMPLES when t has sample rows, by a comment block of them.
** Returns a malloc'd string ending in a newline, or NULL when out of memory. */
char *sc_render_table(const sc_table *t, unsigned flags);

/* Every table, one statement each, in order. Returns a malloc'd string, or
** NULL when out of memory. */
char *sc_render(const sc_schema *s, unsigned flags);

/* Measures the cost of text (len bytes) in the caller's unit, e.g. tokens. */
typedef size_t (*sc_measure_fn)(const char *text, size_t len, void *ctx);

typedef struct sc_budget_report {
    char **dropped;       /* names of the tables left out, most relevant first */
    int    ndropped;
    int    nkept;
    int    nsamples_dropped; /* kept tables rendered without their sample rows */
    size_t cost;          /* measure of the returned text */
} sc_budget_report;

/* Renders as much of s as fits in budget units of measure (NULL: bytes),
** keeping the tables most related to question: tables whose name words
** match question words (plural 's' stemmed) first, then those whose column
** names match, then tables linked by foreign keys to kept ones, then the
** rest while room is left (with SC_RENDER_VALUES and values, anchors as
** above). Tables are first kept without samples; sample
** blocks are added back, most relevant table first, while they fit. Output
** keeps the database's table order. report (optional) tells what was left
** out; free it with sc_budget_report_free. Returns a malloc'd string (maybe
** empty when not even one table fits), or NULL with the reason. */
/* Which of the n texts column col of table holds, ignoring ASCII case:
** held[i] = 1 for each held one. Returns 0, or -1 when it cannot tell (the
** column then gets no anchor). */
typedef int (*sc_values_fn)(void *ctx, const char *table, const char *col, const char *const *texts, int n,
                            unsigned char *held);

char *sc_render_budget(const sc_schema *s, const char *question, unsigned flags, size_t budget,
                       sc_measure_fn measure, void *measure_ctx, sc_values_fn values, void *values_ctx,
                       sc_budget_report *report, sa_err *err);

void sc_budget_report_free(sc_budget_report *r);

/* Value linking, for decoding (copyvals.h): the question's spans of 1–3
** words that neither start nor end with a stop word and that some text
** column of s holds (held_fn, as for the anchors). *spans receives the
** distinct held spans (malloc'd, as the question spells them; free each and
** the array), *held_by one flag per column, tables in order and columns in
** schema order (malloc'd): 1 where the column holds one of them. Returns the
** number of spans, or -1 when out of memory (nothing to free). */
int sc_value_links(const sc_schema *s, const char *question, sc_values_fn held_fn, void *ctx, char ***spans,
                   unsigned char **held_by);

/* sql-create-context's own style, for models trained on it: one
** "CREATE TABLE t (col INTEGER, col VARCHAR)" per table, types reduced to
** INTEGER (numeric affinity) or VARCHAR, no constraints, no samples. */
char *sc_render_table_scc(const sc_table *t);

/* Does column col of table hold the value text (ignoring case)? */
typedef int (*sc_value_fn)(void *ctx, const char *table, const char *col, const char *text);

/* As sc_render_table_scc for a question: a table wider than the data set's
** contexts (more than SCC_WIDE_COLUMNS columns) shows only the columns the
** question is about — every word of its name in the question (not counting
** the words of the table's own name), or (with has_value)
** holding one of its 1–3-word spans — in the order the question mentions
** them; all columns when none is. */
#define SCC_WIDE_COLUMNS 4
char *sc_render_table_scc_for(const sc_table *t, const char *question, sc_value_fn has_value, void *vctx);

/* The tables the question is about, in that style, the way the data set
** lists only the tables a query uses: tables scoring at least half the best
** score (as sc_render_budget scores them), best first, while they fit in
** budget; when none matches, the first table that fits. One statement per
** line, in schema order, each as sc_render_table_scc_for. report as for
** sc_render_budget. */
char *sc_render_relevant_scc(const sc_schema *s, const char *question, size_t budget, sc_measure_fn measure,
                             void *measure_ctx, sc_value_fn has_value, void *vctx, sc_budget_report *report,
                             sa_err *err);

#endif
