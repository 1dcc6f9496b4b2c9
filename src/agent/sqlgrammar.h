/*
** sqlgrammar.h — schema-aware constrained decoding of SQLite queries.
**
** An incremental parser of read-only SQLite statements (WITH, SELECT
** [DISTINCT], expressions, aggregates, CASE, CAST, LIKE, BETWEEN, IN, IS
** [NOT] NULL, subqueries, FROM with JOIN ... ON / USING, WHERE, GROUP BY,
** HAVING, ORDER BY, LIMIT/OFFSET, UNION/INTERSECT/EXCEPT, SQLite's scalar,
** date and aggregate functions) that follows a model's reply byte by byte.
** At each decoding step only tokens that keep the reply a valid prefix of
** such a statement are allowed:
**   * table names are the schema's tables and views or the query's CTEs; a column is
**     a column of a table in scope (aliases tracked per SELECT, outer
**     SELECTs visible to subqueries) or an alias of the result; a column
**     named in the SELECT list before FROM is checked when FROM ends;
**   * functions are SQLite's built-in ones with their numbers of arguments;
**     aggregates never in WHERE, ON, GROUP BY or inside another aggregate;
**   * literals are free (the copy mask of copyvals.h may narrow them);
**   * the statement may end (end-of-text token, ';', closing ``` fence) only
**     when it is complete, and when the token budget is about to run out the
**     reply is steered along the shortest completion found, so no answer is
**     ever a cut-off statement.
** It works on any vocabulary: the tokens' bytes are put once per tokenizer
** into a trie, and a mask is a walk of that trie that abandons a branch at
** the first byte the parser refuses. Greedy decoding needs no mask at all:
** the best token is checked, and only when it is refused the next best
** (sg_allows), which costs microseconds.
**
** Left out on purpose (the grammar refuses them): comments, backquoted
** identifiers (``` closes the reply's code fence), window functions,
** VALUES, bound parameters, implicit result aliases (write AS), and
** functions SQLite 3.40 does not have. Views are named like tables (they
** are in sc_schema with their columns).
**
** Owns: the parser state and the schema's names (copied). Borrows the
** tokenizer (its trie is built once per tokenizer and kept for the life of
** the process). One sql_grammar serves one reply at a time.
*/
#ifndef SA_SQLGRAMMAR_H
#define SA_SQLGRAMMAR_H

#include <stddef.h>

#include "../engine/tokenizer.h"
#include "../sql/schema.h"

typedef struct sql_grammar sql_grammar;

/* A grammar over schema s; tok may be NULL for text-only use (sg_feed_text,
** tests, the fuzzer). NULL when out of memory. */
sql_grammar *sg_new(const tokenizer *tok, const sc_schema *s);
void sg_free(sql_grammar *g);

/* Narrows g to the plain style that models trained by `sqlassist train` learnt
** (Spider's, WikiSQL's and make_synthetic.py's queries): the aggregates and
** strftime as the only functions; no CASE, CAST, GLOB, COLLATE, ISNULL,
** NOTNULL, TRUE/FALSE, CURRENT_*, unary + or ~, bit or || operators; table
** aliases T1 to T9 only, after AS; no result aliases; only JOIN ... ON
** with "a = b [AND c = d]" over the sources joined so far (no comma, LEFT,
** CROSS, NATURAL or USING joins); blanks one space at a time.
** A small model that strays from its style is lost (it writes
** "FROM pets p WHERE HEx(TRUE < 10)"); keeping it there keeps it on the
** queries it can write. Call before the first sg_reset. */
void sg_set_plain(sql_grammar *g);

/* Starts a new reply whose text begins with prefix (may be "", e.g.
** "SELECT" when the template opened the statement). Returns 0, or -1 when
** the prefix itself is refused (the grammar then allows anything). */
int sg_reset(sql_grammar *g, const char *prefix);

/* Would token id be allowed next, with n_left tokens of budget left
** (counting this one)? */
int sg_allows(sql_grammar *g, int id, int n_left);

/* Sets logits[id] = -INFINITY for every token not allowed next. Returns how
** many tokens stay allowed. */
int sg_mask(sql_grammar *g, float *logits, int n_vocab, int n_left);

/* Records a generated token. Returns 0, or -1 when it was not allowed (the
** grammar then stops constraining this reply). */
int sg_push(sql_grammar *g, int id);

/* From the next token on, closes the statement along the shortest
** completion found (as when the budget runs out): for a reply caught in a
** loop (agent.c). Without a completion within the search depth, nothing
** changes. */
void sg_finish(sql_grammar *g);

/* Is the reply so far a complete statement? */
int sg_complete(const sql_grammar *g);

/* Was the reply since sg_reset ended along a completion (the model did not
** finish the statement itself)? */
int sg_steered(const sql_grammar *g);

/* Text-only checks: feeds text[0..len) from the reply's start. Returns -1
** when every byte is accepted (*complete then tells whether the text is a
** complete statement), else the offset of the first refused byte. */
long sg_check_text(sql_grammar *g, const char *text, size_t len, int *complete);

/* The shortest text found that completes the reply so far (malloc'd, maybe
** ""), or NULL when none is found within the search depth. */
char *sg_completion(sql_grammar *g);

/* Bytes masked (tokens refused) counters, for benchmarks. */
typedef struct sg_stats { long masks, allows_calls, trie_nodes_visited; } sg_stats;
void sg_get_stats(const sql_grammar *g, sg_stats *out);

#endif
