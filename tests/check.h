/*
** check.h — the one harness of the C unit tests (tests/test_*.c), with the
** same vocabulary as tests/lib_test.sh for the shell tests:
**
**   CHECK(cond, fmt, ...)    one check: counted PASS, or a line
**                            "FAIL file:line: message" (the message is
**                            formatted only on failure)
**   CHECK_EQ(a, b, what)     integers equal (both values in the FAIL line)
**   CHECK_STREQ(a, b, what)  strings equal (NULL never equals)
**   CHECK_FAIL(fmt, ...)     a failure found by the test's own logic
**   check_named(ok, fmt, ...) one check reported by name either way: a line
**                            "PASS name" or "FAIL name" (for a few
**                            coarse checks whose names are worth reading)
**   check_skip(fmt, ...)     a check that cannot run because its oracle or
**                            data is missing (a tokenizer, ../shared data, a
**                            fixture): "SKIP reason", or under CI=true
**                            "FAIL reason (CI=true: oracle missing)"
**   check_skip_hw(fmt, ...)  a check this machine cannot run (a CPU
**                            feature): "SKIP reason", also under CI=true
**   return check_done();     prints "N passed, N failed, N skipped" and
**                            gives the exit status: 1 on any failure, 77
**                            when nothing passed and something was skipped,
**                            else 0
**
** PASS lines are printed per check only with CHECK_VERBOSE=1 (some tests run
** thousands of checks in loops); the counts are always in the closing line,
** which tests/run_all.sh reads. Output goes to stdout, flushed per line so a
** crash loses nothing. Header-only: include it once, from the test's .c.
*/
#ifndef SQLASSIST_TESTS_CHECK_H
#define SQLASSIST_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define CHECK_UNUSED_ __attribute__((unused))
#else
#define CHECK_UNUSED_
#endif

static int check_npass, check_nfail, check_nskip;

CHECK_UNUSED_ static int check_env_is_(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

CHECK_UNUSED_ static void check_pass_(const char *file, int line, const char *what) {
    check_npass++;
    if (check_env_is_("CHECK_VERBOSE", "1")) printf("PASS %s:%d: %s\n", file, line, what);
}

CHECK_UNUSED_ static void check_fail_begin_(const char *file, int line) {
    check_nfail++;
    printf("FAIL %s:%d: ", file, line);
}

CHECK_UNUSED_ static void check_fail_end_(void) {
    putchar('\n');
    fflush(stdout);
}

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (cond) check_pass_(__FILE__, __LINE__, #cond);                \
        else {                                                           \
            check_fail_begin_(__FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                         \
            check_fail_end_();                                           \
        }                                                                \
    } while (0)

#define CHECK_FAIL(...)                                                  \
    do {                                                                 \
        check_fail_begin_(__FILE__, __LINE__);                           \
        printf(__VA_ARGS__);                                             \
        check_fail_end_();                                               \
    } while (0)

#define CHECK_EQ(a, b, what)                                             \
    do {                                                                 \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);  \
        CHECK(check_a_ == check_b_, "%s: %lld != %lld", (what),          \
              check_a_, check_b_);                                       \
    } while (0)

#define CHECK_STREQ(a, b, what)                                          \
    do {                                                                 \
        const char *check_s_ = (a), *check_t_ = (b);                     \
        CHECK(check_s_ && check_t_ && strcmp(check_s_, check_t_) == 0,   \
              "%s: \"%s\" != \"%s\"", (what),                            \
              check_s_ ? check_s_ : "(null)",                            \
              check_t_ ? check_t_ : "(null)");                           \
    } while (0)

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
CHECK_UNUSED_ static int check_named(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (ok) check_npass++;
    else check_nfail++;
    printf(ok ? "PASS " : "FAIL ");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    return ok;
}

CHECK_UNUSED_ static void check_skip_v_(int hw, const char *fmt, va_list ap) {
    if (!hw && check_env_is_("CI", "true")) {
        check_nfail++;
        printf("FAIL ");
        vprintf(fmt, ap);
        printf(" (CI=true: oracle missing)\n");
    } else {
        check_nskip++;
        printf("SKIP ");
        vprintf(fmt, ap);
        putchar('\n');
    }
    fflush(stdout);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
CHECK_UNUSED_ static void check_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    check_skip_v_(0, fmt, ap);
    va_end(ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
CHECK_UNUSED_ static void check_skip_hw(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    check_skip_v_(1, fmt, ap);
    va_end(ap);
}

CHECK_UNUSED_ static int check_done(void) {
    printf("%d passed, %d failed, %d skipped\n", check_npass, check_nfail, check_nskip);
    fflush(stdout);
    if (check_nfail) return 1;
    return check_npass == 0 && check_nskip > 0 ? 77 : 0;
}

#endif
