/*
** copyvals.h — decoding that copies the SQL's values from the question and
** its names from the schema, and leans toward the columns the question
** names (schema linking, cv_link_columns), toward the values of the
** question the database holds (cv_link_values; on a database with rows,
** only those: cv_hold_values), and away from key columns in the SELECT list.
**
** A small model trained on WikiSQL-style data (the bundled one) gets the
** shape of a query right long before it learns to copy a name from the
** question letter for letter ("Dwight Howard" comes out as "Dwight Hoard").
** In such data every value of a comparison is a span of the question, so
** while the model writes a value the tokens that would leave every span of
** the question are masked out:
**   * a quoted literal ('...' or "...") that follows a comparison operator
**     (=, !=, <>, <, >, <=, >=, LIKE): the text so far must stay a span of
**     the question, in any case (data sets write a value as the table holds
**     it, or lower-case it), starting where a word starts; the
**     closing quote is allowed once the value is not empty and ends where a
**     word ends;
**   * a bare number after such an operator: its digits (and '.') must stay
**     a span of the question with its thousands separators removed, whole
**     numbers only.
** With names (the schema's tables and columns), every word of the query
** outside quotes must also be one of them, an SQL keyword or function of a
** fixed list, or an alias t1, t2, ... (the only aliases such data makes up):
** "faames" cannot be written where "games" is a column. A name is written
** as the schema spells it or in one case throughout, a keyword in one case,
** and each word of a value keeps one shape (lower, UPPER, Capitalized)
** unless the value is spelled as in the question: mixed case ("lOANS",
** "HARry") is how a small model writes a word it has lost the thread of.
** The mask never removes every token: when nothing fits, the model is left
** free. Off unless asked for (agent_config.copy_values): larger models
** rightly write values the question does not spell out.
*/
#ifndef SA_COPYVALS_H
#define SA_COPYVALS_H

#include "../engine/tokenizer.h"
#include "../sql/schema.h"

typedef struct copy_vals copy_vals;

/* Prepares the mask for question over tok's vocabulary; names[0..n_names)
** are the schema's names (NULL: names are not checked). NULL when out of
** memory (the caller then decodes without it). */
copy_vals *cv_new(const tokenizer *tok, const char *question, const char *const *names, int n_names);
void cv_free(copy_vals *c);
/* An independent copy of c, links and reply state included (the tokenizer
** stays shared): candidates written at once each need their own. NULL
** when out of memory. */
copy_vals *cv_clone(const copy_vals *c);

/* Schema linking: the columns of schema whose words the question names
** ("unit price" -> unit_price, "hired" -> hire_date; never a key column, never
** by the table's own name; a word that names a column of a table the
** question names links no column of the other tables: "the names of all
** departments" is departments.name, not patients.first_name) take bonus
** on their logits wherever the reply
** starts a name that can only become one of them (cv_mask adds it). A small
** model reaches for a table's first column (its key) where the question
** names another. Where an item of the query's first SELECT list starts, a
** token that can only become a key column loses the bonus, unless the
** question says "id" ("Which product ..." wants its name). Needs the names
** given to cv_new; returns how many names were linked. */
int cv_link_columns(copy_vals *c, const sc_schema *schema, float bonus);

/* Value linking, after cv_link_columns: spans[0..n_spans) are spans of the
** question the database holds (sc_value_links), cols[0..n_cols) the columns
** holding them. Where the reply writes a condition (after WHERE, AND, OR,
** NOT), those columns count as linked too; where it writes a quoted value,
** a token that keeps the value the start of a held span, or closes it at
** one, gains the same bonus ('student' over 'Many' for "a student
** membership"). Returns how many names were linked. */
int cv_link_values(copy_vals *c, const char *const *spans, int n_spans, const char *const *cols, int n_cols);

/* The database holds rows: from now on a quoted value compared for equality
** (=, !=, <>, LIKE; not <, >) must be one of the held spans of
** cv_link_values, whole, and where the question has none no such value can
** be opened. A comparison with a word of the question that no row holds
** ("author_id = 'Library'", "city = 'Clinic'") finds nothing on such a
** database; a database without rows (built from a CREATE TABLE context)
** holds no span, so the agent calls this only when some table has a row. */
void cv_hold_values(copy_vals *c);

/* Starts a new reply whose text begins with prefix (may be ""). */
void cv_reset(copy_vals *c, const char *prefix);

/* Records the bytes of a generated token. */
void cv_push(copy_vals *c, int id);

/* How much of the question the reply since cv_reset uses: the linked
** columns it wrote (by name, or holding a value, in a condition) plus its
** quoted values that are spans the database holds. Ranks candidates. */
int cv_coverage(const copy_vals *c);

/* Sets logits[id] to -INFINITY for every token that would break a copied
** value or name at this point, and adds the linking bonus where it applies.
** Returns the number of tokens masked. */
int cv_mask(copy_vals *c, float *logits, int n_vocab);

#endif
