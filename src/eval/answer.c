/*
** answer.c — phase 1 of `sqlassist bench`; see answer.h.
*/
#include "eval/answer.h"

#include <stdlib.h>

#include "eval/grade.h"
#include "util/progress.h"

void ev_answer_tasks(agent_config *cfg, const ev_answer_opts *o, const ev_tasks *tasks, int n, FILE *rf, ev_tally *tl) {
    ev_dbs dbs = { .dir = o->db_dir };
    progress pr;
    progress_start(&pr, "bench", n);
    for (int i = 0; i < n; i++) {
        const ev_task *t = &tasks->t[i];
        sandbox *sb = NULL, *own_sb = NULL;
        const char *schema = NULL;
        char *own_schema = NULL, *note = NULL;
        sa_err te = {{0}}, err = {{0}};
        ev_outcome oc = {0};
        agent_answer ans = {0};
        cfg->schema = NULL;   /* a context's own sandbox: the agent reads it when needed */
        if (t->context) { own_sb = sb = sb_open_context(t->context, NULL, &te); schema = t->context; }
        else {
            const ev_db *e = ev_dbs_get(&dbs, t->db_id, &te);
            if (e && (own_schema = agent_schema_prompt(cfg->m, cfg->tpl, e->sb, &e->schema, t->question, false, o->n_ctx,
                                                       cfg->max_new_tokens, cfg->max_attempts, &note, &te))) {
                sb = e->sb;
                schema = own_schema;
                cfg->schema = &e->schema;
            }
            free(note);
        }
        if (!sb) {
            fprintf(stderr, "%s:%d: task skipped: %s\n", o->task_path, t->line, te.msg);
            oc.error = te.msg;
        } else {
            if (agent_ask(cfg, sb, schema, NULL, NULL, t->question, &ans, &err)) {
                /* one task's failure (e.g. a prompt over the context) is that task's result */
                fprintf(stderr, "%s:%d: %s\n", o->task_path, t->line, err.msg);
                oc.error = err.msg;
                agent_answer_free(&ans);
            }
            oc = (ev_outcome){ .error = oc.error, .answered = true, .sql = ans.sql ? ans.sql : "", .ran = ans.ok,
                               .attempts = ans.n_attempts, .prefill_ms = ans.prefill_ms, .decode_ms = ans.decode_ms,
                               .execute_ms = ans.execute_ms, .total_ms = ans.total_ms,
                               .tokens_in = ans.prompt_tokens, .tokens_out = ans.generated_tokens,
                               .drafted = ans.drafted_tokens, .accepted = ans.accepted_tokens,
                               .verify_passes = ans.verify_passes };
            ev_grade_task(t, sb, oc.sql, ans.ok, &ans.result, &oc.grade);
        }
        ev_write_result_line(rf, t, &oc);
        ev_tally_add(tl, &oc);
        agent_answer_free(&ans);
        sb_close(own_sb);
        free(own_schema);
        progress_update(&pr, i + 1);
    }
    progress_end(&pr);
    cfg->schema = NULL;
    ev_dbs_free(&dbs);
}
