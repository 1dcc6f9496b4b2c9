/*
** cmd_bench.c — `sqlassist bench`: a text-to-SQL benchmark in one command.
**
** Phase 1 answers every task in this process (accuracy, latency split,
** tokens) and grades it (eval/answer.h); phase 2 starts the real HTTP server
** (`sqlassist serve`) and measures throughput at concurrency 1, 2, 4, 8 (and
** --concurrency) and cold start to /health ready, then times a fresh
** `sqlassist ask` from process start to its answer (eval/loadtest.h).
** Writes results.jsonl, summary.json, report.md and chart.svg into --out
** (eval/report.h). Comparison rules: docs/bench.md.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "engine/generate.h"
#include "eval/answer.h"
#include "eval/loadtest.h"
#include "eval/report.h"
#include "eval/tasks.h"
#include "cli_args.h"
#include "commands.h"
#include "lora_cli.h"

typedef struct bench_opts {
    const char *model, *tasks_path, *db_dir, *out_dir, *threads, *ctx, *format, *tpl, *copy_values, *grammar, *candidates, *draft, *link_bonus, *at_once, *beam;
    long attempts, n_predict, concurrency, limit, tp_requests;
    int no_server;
} bench_opts;

/* Phase 2, with the flags that make `serve` and `ask` answer as this process does. */
static void load_test(const bench_opts *o, const lora_cli *lc, const char *self, int threads, const ev_tasks *tasks, int n_tasks, ev_load *r) {
    char att_s[16], np_s[16], thr_s[16];
    snprintf(att_s, sizeof att_s, "%ld", o->attempts);
    snprintf(np_s, sizeof np_s, "%ld", o->n_predict);
    snprintf(thr_s, sizeof thr_s, "%d", threads);
    const char *pass[][2] = { {"--format", o->format}, {"--template", o->tpl}, {"--copy", o->copy_values},
                              {"--grammar", o->grammar}, {"--candidates", o->candidates}, {"--draft", o->draft}, {"--beam", o->beam},
                              {"--link-bonus", o->link_bonus} };
    enum { N_PASS = sizeof pass / sizeof *pass };
    /* the three fixed pairs, the adapters, the flags passed on, the terminating NULL */
    const char *fl[6 + 2 * LORA_CLI_MAX + 2 * N_PASS + 1] = { "--max-attempts", att_s, "-n", np_s, "--threads", thr_s };
    int k = 6;
    for (int i = 0; i < lc->n_lora; i++) { fl[k++] = "--lora"; fl[k++] = lc->lora[i]; }
    for (int i = 0; i < N_PASS; i++)
        if (pass[i][1]) { fl[k++] = pass[i][0]; fl[k++] = pass[i][1]; }
    ev_load_opts lo = { .exe = self, .model = o->model, .flags = fl, .db_dir = o->db_dir, .out_dir = o->out_dir,
                        .concurrency = (int)o->concurrency, .requests = (int)o->tp_requests };
    ev_load_run(&lo, tasks, n_tasks, r);
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = { .out_dir = "bench-out", .attempts = 3, .n_predict = 256, .concurrency = 4, .limit = 0, .tp_requests = 16 };
    const char *attempts = "3", *n_predict = "256", *conc = "4", *limit = NULL, *tp_req = "16";
    lora_cli lc = {0};
    cli_opt opts[] = {
        {"--model", "-m", 1, &o.model, NULL, "GGUF file or Hugging Face model directory (default: the bundled model, models/" BUNDLED_MODEL ")"},
        {"--tasks", NULL, 1, &o.tasks_path, NULL, "task file: sql-create-context JSONL or Spider JSON/JSONL (required)"},
        {"--db-dir", NULL, 1, &o.db_dir, NULL, "Spider databases: DIR/<db_id>/<db_id>.sqlite"},
        {"--out", "-o", 1, &o.out_dir, NULL, "output directory (default bench-out)"},
        {"--concurrency", NULL, 1, &conc, NULL, "clients for the throughput run (default 4; 1, 2, 4, 8 are always measured)"},
        {"--requests", NULL, 1, &tp_req, NULL, "requests per throughput run (default 16)"},
        {"--no-server", NULL, 0, NULL, &o.no_server, "skip the HTTP throughput and cold-start runs"},
        {"--limit", NULL, 1, &limit, NULL, "only the first N tasks"},
        {"--max-attempts", NULL, 1, &attempts, NULL, "generate/execute/repair rounds (default 3)"},
        {"--n-predict", "-n", 1, &n_predict, NULL, "maximum tokens per attempt (default 256)"},
        {"--format", NULL, 1, &o.format, NULL, "prompt template: chatml (default) or sql-create-context"},
        {"--template", NULL, 1, &o.tpl, NULL, "prompt template file"},
        {"--copy", NULL, 1, &o.copy_values, NULL, "on, off or auto: while decoding, copy values from the question and names from the schema (auto: on for models trained by sqlassist train)"},
        {"--grammar", NULL, 1, &o.grammar, NULL, "on or off: decode only SQL valid on the schema (default on)"},
        {"--candidates", NULL, 1, &o.candidates, NULL, "queries per round; the answer is the first that returns rows, the model's own queries before those the grammar finished (" AGENT_CANDIDATES_HELP ")"},
        {"--candidates-at-once", NULL, 1, &o.at_once, NULL, "on or off: write a round's candidates at once, their decode steps sharing passes over the weights (same answers; default on)"},
        {"--link-bonus", NULL, 1, &o.link_bonus, NULL, "logit bonus, with --copy, of a name that can only become a column the question names (0 = off; default $SQLASSIST_LINK_BONUS, else " AGENT_DEFAULT_LINK_BONUS_STR ")"},
        {"--beam", NULL, 1, &o.beam, NULL, "beam width: each round's candidates also include the replies of a beam search this wide, ranked with them (0 = off; default $SQLASSIST_BEAM, else " AGENT_BEAM_HELP ")"},
        {"--draft", NULL, 1, &o.draft, NULL, "tokens drafted per step from the prompt for greedy decoding (speculative decoding, same output; 0 = off; default $SQLASSIST_DRAFT, else " AGENT_DEFAULT_DRAFT_STR ")"},
        {"--threads", "-t", 1, &o.threads, NULL, "threads (default: all cores)"},
        {"--ctx", "-c", 1, &o.ctx, NULL, "context length (default 4096)"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist bench [--model PATH] [--lora ...] --tasks FILE [--db-dir DIR] [--concurrency N] [--out DIR]";
    int r = cli_parse(argc, argv, opts, usage, "Measures accuracy, latency, throughput and cold start on a task file.", pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!o.tasks_path) { fprintf(stderr, "sqlassist: --tasks is required\nusage: %s\n", usage); return 2; }
    if (cli_model_or_default(&o.model)) return 2;
    long n_ctx = 4096, nth = 0, n_cand = 0, n_draft = 0, n_beam = 0;
    double link_bonus = 0;
    if (cli_int("--max-attempts", attempts, 1, 20, &o.attempts) || cli_int("-n", n_predict, 1, 8192, &o.n_predict) ||
        cli_int("--concurrency", conc, 1, 64, &o.concurrency) || cli_int("--requests", tp_req, 1, 100000, &o.tp_requests) ||
        cli_int("--limit", limit, 1, 1000000, &o.limit) || cli_int("--ctx", o.ctx, 256, 1 << 20, &n_ctx) ||
        cli_int("--threads", o.threads, 1, 1024, &nth) ||
        cli_int("--candidates", o.candidates, 1, AGENT_MAX_CANDIDATES, &n_cand) ||
        cli_int("--draft", o.draft, 0, GEN_DRAFT_MAX, &n_draft) || cli_int("--beam", o.beam, 0, BEAM_MAX, &n_beam) || cli_float("--link-bonus", o.link_bonus, 0, 100, &link_bonus) ||
        lora_cli_check(&lc))
        return 2;
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) { fprintf(stderr, "sqlassist: cannot find own executable\n"); return 1; }
    self[sl] = 0;
    if (mkdir(o.out_dir, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "sqlassist: --out %s: %s\n", o.out_dir, strerror(errno)); return 1; }

    sa_err err = {{0}};
    ev_tasks tasks;
    if (ev_tasks_load(o.tasks_path, &tasks, stderr, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    int n_tasks = o.limit && o.limit < tasks.n ? (int)o.limit : tasks.n;
    model_opts mo = { .n_threads = (int)nth };
    model *m = model_load(o.model, &mo, &err);
    if (!m) { fprintf(stderr, "sqlassist: %s\n", err.msg); ev_tasks_free(&tasks); return 1; }
    int rc = lora_cli_setup(&lc, m);
    prefix_cache *pc = NULL;
    prompt_template tpl = {0};
    if (!rc && agent_template_init(&tpl, o.format, o.tpl, m, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 2; }
    int copy_values = rc ? 0 : agent_copy_values(o.copy_values, m);
    if (copy_values < 0) { fprintf(stderr, "sqlassist: --copy '%s': expected on, off or auto\n", o.copy_values); rc = 2; }
    int grammar = 1;
    if (!rc && agent_grammar_flag(o.grammar, &grammar)) rc = 2;
    int at_once = 1;
    if (!rc && agent_on_off("--candidates-at-once", o.at_once, 1, &at_once)) rc = 2;
    if (!rc) {
        agent_config want = { .m = m, .copy_values = copy_values, .candidates = (int)n_cand, .parallel_candidates = at_once,
                              .beam = !o.beam ? 0 : n_beam ? (int)n_beam : -1 };
        if (!(pc = pc_new(m, agent_cache_slots(&want, 2), (int)n_ctx, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
    }
    if (rc) { pc_free(pc); lora_cli_free(&lc); model_free(m); ev_tasks_free(&tasks); return rc; }

    agent_config cfg = {
        .m = m, .pc = pc, .tpl = &tpl, .max_attempts = (int)o.attempts, .max_new_tokens = (int)o.n_predict,
        .copy_values = copy_values, .grammar = grammar, .candidates = (int)n_cand, .parallel_candidates = at_once,
        .draft = !o.draft ? 0 : n_draft ? (int)n_draft : -1,   /* --draft 0: off; none: the default */
        .beam = !o.beam ? 0 : n_beam ? (int)n_beam : -1,
        .link_bonus = !o.link_bonus ? 0 : link_bonus > 0 ? (float)link_bonus : -1,
        .lora = lc.use, .lora_scale = lc.use_scale, .adapter_name = lc.use ? lora_name(lc.use) : NULL,
    };
    ev_tally tl = {0};
    if (ev_tally_init(&tl, n_tasks)) { fprintf(stderr, "sqlassist: out of memory\n"); rc = 1; goto done; }
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", o.out_dir);
    FILE *rf = fopen(path, "w");
    if (!rf) { fprintf(stderr, "sqlassist: %s: cannot write\n", path); rc = 1; goto done; }
    ev_answer_opts ao = { .db_dir = o.db_dir, .task_path = o.tasks_path, .n_ctx = (int)n_ctx };
    ev_answer_tasks(&cfg, &ao, &tasks, n_tasks, rf, &tl);
    fclose(rf);

    ev_load ld;
    if (o.no_server) ev_load_none(&ld);
    else load_test(&o, &lc, self, tp_size(m->tp), &tasks, n_tasks, &ld);

    struct rusage ru_self, ru_child;
    getrusage(RUSAGE_SELF, &ru_self);
    getrusage(RUSAGE_CHILDREN, &ru_child);
    ev_summary sum = {
        .tally = &tl, .malformed_lines = tasks.n_bad, .load = &ld, .concurrency = o.concurrency, .requests = o.tp_requests,
        .model_load_ms = m->load_seconds * 1000, .model = o.model, .task_file = o.tasks_path, .draft = agent_draft(&cfg),
        .peak_rss_mb = (double)(ru_self.ru_maxrss > ru_child.ru_maxrss ? ru_self.ru_maxrss : ru_child.ru_maxrss) / 1024.0,
    };
    if (ev_write_outputs(o.out_dir, &sum, stdout, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
done:
    ev_tally_free(&tl);
    prompt_template_free(&tpl);
    pc_free(pc);
    lora_cli_free(&lc);
    model_free(m);
    ev_tasks_free(&tasks);
    return rc;
}
