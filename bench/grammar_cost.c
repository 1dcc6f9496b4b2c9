/*
** grammar_cost.c — what constrained decoding (src/agent/sqlgrammar.c) costs
** per generated token, on a real vocabulary and real schemas.
**
**   grammar_cost TOKENIZER DBDIR GOLD [N]
**
** TOKENIZER: a GGUF (or tokenizer.json) whose vocabulary to mask; DBDIR/GOLD:
** Spider's database folder and a "SQL<TAB>db_id" gold file. For the first N
** gold queries (default 200) it tokenizes the query and walks it token by
** token, timing at each position:
**   allows  sg_allows on the next gold token: all greedy decoding pays when
**           the model's best token is valid;
**   mask    sg_mask over the whole vocabulary: what sampling pays, and greedy
**           decoding after 16 refused tokens;
**   push    sg_push of the token.
** Prints the mean microseconds per token of each, one JSON line.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/sqlgrammar.h"
#include "engine/tokenizer.h"
#include "sql/sandbox.h"
#include "sql/schema.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: grammar_cost TOKENIZER DBDIR GOLD [N]\n"); return 2; }
    int limit = argc > 4 ? atoi(argv[4]) : 200;
    sa_err err = {{0}};
    tokenizer *tok = tok_load(argv[1], &err);
    if (!tok) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int V = tok_n_vocab(tok);
    float *logits = malloc((size_t)V * sizeof *logits);
    FILE *f = fopen(argv[3], "r");
    if (!f || !logits) { fprintf(stderr, "cannot open %s\n", argv[3]); return 1; }
    char line[20000];
    double t_allows = 0, t_mask = 0, t_push = 0, t_build = 0;
    long n_tok = 0, n_q = 0, refused = 0, kept_sum = 0, nodes = 0;
    while (n_q < limit && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strrchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s/%s.sqlite", argv[2], tab + 1, tab + 1);
        sandbox *sb = sb_open_db(path, NULL, &err);
        sc_schema s = {0};
        if (!sb || sc_introspect(sb, 0, &s, &err)) { if (sb) sb_close(sb); continue; }
        double t0 = now();
        sql_grammar *g = sg_new(tok, &s);
        t_build += now() - t0;
        int32_t *ids;
        size_t n;
        if (tok_encode(tok, line, strlen(line), &ids, &n, &err)) { sg_free(g); sc_free(&s); sb_close(sb); continue; }
        sg_reset(g, "");
        for (size_t i = 0; i < n; i++) {
            t0 = now();
            int ok = sg_allows(g, ids[i], 256);
            double t1 = now();
            for (int k = 0; k < V; k++) logits[k] = 0;
            double t2 = now();
            kept_sum += sg_mask(g, logits, V, 256);
            double t3 = now();
            sg_push(g, ids[i]);
            double t4 = now();
            t_allows += t1 - t0;
            t_mask += t3 - t2;
            t_push += t4 - t3;
            refused += !ok;
            n_tok++;
        }
        n_q++;
        sg_stats st;
        sg_get_stats(g, &st);
        nodes += st.trie_nodes_visited;
        free(ids);
        sg_free(g);
        sc_free(&s);
        sb_close(sb);
    }
    fclose(f);
    if (!n_tok) { fprintf(stderr, "no tokens\n"); return 1; }
    printf("{\"queries\": %ld, \"tokens\": %ld, \"vocab\": %d, \"allows_us\": %.2f, \"mask_us\": %.1f, \"push_us\": %.2f,"
           " \"grammar_new_ms\": %.3f, \"mean_allowed\": %.0f, \"gold_tokens_refused\": %ld, \"trie_nodes_per_mask\": %.0f}\n",
           n_q, n_tok, V, 1e6 * t_allows / (double)n_tok, 1e6 * t_mask / (double)n_tok, 1e6 * t_push / (double)n_tok,
           1e3 * t_build / (double)n_q, (double)kept_sum / (double)n_tok, refused, (double)nodes / (double)n_tok);
    free(logits);
    tok_free(tok);
    return 0;
}
