/*
** ask_out.h — what `sqlassist ask` prints, kept apart from the agent so
** that standard output carries only the answer:
**   text  "SQL: …" and the rows as a table (through $PAGER when standard
**         output is a terminal and the table is taller than it);
**   json  the agent's answer with a top-level "error" (null when a query
**         ran) and "columns"/"rows" once, at the top level;
**   csv   a header line and the rows (RFC 4180 quoting, NULL empty).
** Notes (tables left out of the prompt) and timings go to standard error,
** and only when asked for (-v). Also the interactive session's banner and
** the example questions made from a schema.
*/
#ifndef SA_CLI_ASK_OUT_H
#define SA_CLI_ASK_OUT_H

#include <stdio.h>

#include "agent/agent.h"
#include "sql/sandbox.h"
#include "sql/schema.h"

typedef enum ask_format { ASK_TEXT = 0, ASK_JSON, ASK_CSV } ask_format;

/* Prints the answer in format f on stdout. When no attempt ran: for json the
** answer with its "error"; for text and csv nothing on stdout and the reason
** on stderr. verbose: the schema note and the timings on stderr. Returns 0
** when a query ran, 1 otherwise. */
int ask_print_answer(const agent_answer *a, ask_format f, int verbose);

/* Prints a result (of `.sql` in a session) in format f. */
void ask_print_result(const sb_result *r, ask_format f);

/* The --json text of an answer (see above). malloc'd; NULL when out of memory. */
char *ask_answer_json(const agent_answer *a);

/* A result as CSV: a header line, then one line per row ("\n" ends lines;
** fields with a comma, quote or line break are quoted, quotes doubled;
** NULL is empty, a blob its hex digits). malloc'd. */
char *ask_result_csv(const sb_result *r);

/* Writes text to stdout, through $PAGER (default less) when stdout is a
** terminal and text has more lines than the terminal; never when piped. */
void ask_page(const char *text);

/* Up to max example questions about s, of the single-table shapes small
** models answer ("What is the highest unit price of the products?"). Each
** out[i] is malloc'd. Returns how many. */
int ask_examples(const sc_schema *s, char **out, int max);

/* The interactive session's banner: the database, its tables, example
** questions and the commands. */
void ask_banner(FILE *f, const char *db_name, const sc_schema *s);

/* The text the schema's tables are chosen for: the conversation's latest
** questions and then this one, so that a follow-up ("only in 2023") still
** sees the tables of the question it refines. malloc'd. */
char *ask_tables_for(const agent_conversation *c, const char *question);

/* A follow-up in a session keeps the meaning of the question it refines:
** when there is a last question (as asked) and q names no table of s
** ("only those with more than 10 units in stock"), the question to ask is
** the last one with q appended ("What is the highest unit price of the
** products, only those with more than 10 units in stock"), which small
** models trained on single questions answer; NULL when q stands on its
** own (it names a table) or there is nothing to refine. malloc'd. */
char *ask_followup(const char *last, const sc_schema *s, const char *q);

#endif
