/*
** prompt.h — the prompt templates of the SQL agent.
**
** Four kinds:
**   chatml              Qwen2.5-Instruct's chat format: a system turn with the
**                       instructions and the schema, earlier questions and
**                       their final SQL as previous turns, the question, and
**                       an assistant turn opened with "```sql\n" so the model
**                       writes SQL at once. Failed attempts come back as
**                       turns: the SQL, then SQLite's error quoted as data.
**   sql-create-context  the fine-tuning format of the sql-create-context
**                       data set (question, CREATE TABLE context, answer):
**                       "### Context:\n…\n### Question:\n…\n### SQL:\n".
**   schema              the bundled model's own format: the whole schema
**                       as the agent renders it for a real database
**                       (compact CREATE TABLE statements, one per line,
**                       keys and references kept):
**                       "### Schema:\n…\n### Question:\n…\n### SQL:\n".
**   file                a user's own template (--template FILE) with the
**                       placeholders {{schema}} and {{question}} (and
**                       optionally {{history}}), for adapters trained on
**                       another format.
** Text from users and databases (question, schema, sample rows, errors) is
** data: any "<|" in it is broken up so that it cannot open or close a
** ChatML turn, and errors are quoted.
*/
#ifndef SA_PROMPT_H
#define SA_PROMPT_H

#include "../util/err.h"

typedef enum prompt_kind { PROMPT_CHATML, PROMPT_SQL_CREATE_CONTEXT, PROMPT_SCHEMA, PROMPT_FILE } prompt_kind;

typedef struct prompt_template {
    prompt_kind kind;
    char *text;          /* PROMPT_FILE: the template text */
} prompt_template;

/* One earlier exchange of a conversation (a follow-up refines it). */
typedef struct prompt_turn { const char *question, *sql; } prompt_turn;

/* One failed attempt at the current question. */
typedef struct prompt_failure { const char *sql, *error; } prompt_failure;

/* Parses a kind name ("chatml", "sql-create-context", "schema") or loads a file. */
int prompt_template_init(prompt_template *t, const char *kind_or_null, const char *file_or_null, sa_err *err);
void prompt_template_free(prompt_template *t);

/* Renders the full prompt. The text before the schema's end is identical
** for every question on the same schema (so it can be prefix-cached).
** Returns a malloc'd string. */
char *prompt_render(const prompt_template *t, const char *schema, const prompt_turn *history, int n_history,
                    const char *question, const prompt_failure *failures, int n_failures);

/* Copies untrusted text with every "<|" broken into "< |". malloc'd. */
char *prompt_defang(const char *text);

/* SQL out of a model's reply: the first fenced block if any (or the text up
** to a closing fence), from the first SELECT/WITH/VALUES keyword, cut after
** the first complete statement (a ';' outside literals and comments) or at
** the first blank line / prose line, with a ';' added when missing.
** Returns a malloc'd string (empty when nothing SQL-like was found). */
char *prompt_extract_sql(const char *reply);

#endif
