/*
** sandbox_overhead.c — what the sandbox costs per statement: sb_run against a
** plain sqlite3 prepare/step/finalize of the same SQL on the same connection
** (authorizer still installed), and on a separate plain read-only connection
** (no sandbox settings at all). Prints the figures and their ratios; asserts
** nothing. Built and run by bench/sandbox_overhead.sh.
*/
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sql/sandbox.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Prepares, steps to the end reading every value by its type (as sb_run
** does, less the copy), finalizes. */
static void plain_run(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(db, sql, -1, 0, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "plain: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    int n = sqlite3_column_count(st);
    volatile size_t sink = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < n; c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER: sink += (size_t)sqlite3_column_int64(st, c); break;
            case SQLITE_FLOAT: sink += (size_t)sqlite3_column_double(st, c); break;
            case SQLITE_TEXT: sink += (size_t)sqlite3_column_text(st, c)[0]; break;
            case SQLITE_BLOB: sink += (size_t)sqlite3_column_bytes(st, c); break;
            default: break;
            }
        }
    }
    (void)sink;
    sqlite3_finalize(st);
}

/* One timed batch of iters runs of way 0 (sb_run), 1 (plain, same
** connection) or 2 (plain, separate connection); microseconds per run. */
static double time_batch(int way, sandbox *sb, sqlite3 *other, const char *sql, int iters) {
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        if (way == 0) {
            sb_result r;
            sa_err err;
            if (sb_run(sb, sql, &r, &err) < 0) {
                fprintf(stderr, "sandbox: %s\n", err.msg);
                exit(1);
            }
            sb_result_free(&r);
        } else {
            plain_run(way == 1 ? sb_raw_handle(sb) : other, sql);
        }
    }
    return (now_us() - t0) / iters;
}

#define BATCHES 7

static double median(double *t) {
    for (int i = 1; i < BATCHES; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[BATCHES / 2];
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "examples/shop.sqlite";
    sa_err err;
    sandbox *sb = sb_open_db(path, NULL, &err);
    if (!sb) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sqlite3 *other;
    if (sqlite3_open_v2(path, &other, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;
    struct { const char *name, *sql; int iters; } cases[] = {
        {"SELECT 1", "SELECT 1", 5000},
        {"point lookup", "SELECT * FROM customers WHERE customer_id = 321", 5000},
        {"aggregate", "SELECT status, count(*) FROM orders GROUP BY status", 500},
        {"join, 100 rows", "SELECT o.order_id, c.city, o.status FROM orders o JOIN customers c USING (customer_id)"
                           " ORDER BY o.order_id LIMIT 100", 500},
        {"1000 rows", "SELECT * FROM order_items LIMIT 1000", 100},
    };
    printf("%-16s %12s %14s %14s %10s %10s\n", "query", "sandbox us", "same conn us", "plain conn us",
           "vs same", "vs plain");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The three ways take turns batch by batch, so that a busy machine
        ** slows them alike; the median batch of each is reported. */
        double t[3][BATCHES];
        for (int b = 0; b < BATCHES; b++)
            for (int way = 0; way < 3; way++) t[way][b] = time_batch(way, sb, other, cases[i].sql, cases[i].iters);
        double s = median(t[0]), same = median(t[1]), plain = median(t[2]);
        printf("%-16s %12.2f %14.2f %14.2f %9.2fx %9.2fx\n", cases[i].name, s, same, plain, s / same, s / plain);
    }
    sqlite3_close(other);
    sb_close(sb);
    return 0;
}
