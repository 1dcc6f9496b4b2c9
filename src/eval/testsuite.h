/*
** testsuite.h — test-suite execution accuracy (Zhong, Yu and Klein, 2020)
** for tasks that bring only a schema: sql-create-context's tables are
** empty, so any valid query "matches" on them. Several random databases
** that fit the schema are filled, seeded with the literals of both the gold
** and the predicted query (and their neighbours, so that `>` and `>=` can be
** told apart); a prediction counts only when its result agrees with the
** gold query's on every one of them.
*/
#ifndef SA_TESTSUITE_H
#define SA_TESTSUITE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* 1: the results agree on all n_db databases; 0: they differ on one (why
** says which and how) or the prediction fails to run; -1: the context or
** the gold query itself is broken (err says why). */
int ev_test_suite_match(const char *context, const char *gold, const char *pred, int n_db, uint64_t seed,
                        char *why, size_t why_cap, sa_err *err);

#endif
