/* SPDX-License-Identifier: MIT */
/*
 * A tiny TAP producer for mproc's tests: plan(), ok(), is_int(), is_str(),
 * like_str(), diag(), done_testing().  Header-only; every test program
 * includes it once.
 */
#ifndef MPROC_TAP_H
#define MPROC_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n_, tap_failed_, tap_planned_;

/* Not every test uses every helper. */
#define TAP_UNUSED_ __attribute__((unused))

/* 1 in an AddressSanitizer build (which cannot fork safely while another
 * thread allocates, and needs terabytes of address space). */
#if defined(__SANITIZE_ADDRESS__)
#define TAP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAP_SANITIZED 1
#endif
#endif
#ifndef TAP_SANITIZED
#define TAP_SANITIZED 0
#endif

static void TAP_UNUSED_
diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void TAP_UNUSED_
plan(int n)
{
    tap_planned_ = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static int TAP_UNUSED_
ok_(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_n_++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n_);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    if (!cond) {
        tap_failed_++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}
#define ok(cond, ...) ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                              \
    do {                                                                    \
        long long g_ = (long long)(got), w_ = (long long)(want);            \
        if (!ok(g_ == w_, __VA_ARGS__))                                     \
            diag("  got %lld, want %lld", g_, w_);                          \
    } while (0)

#define is_str(got, want, ...)                                              \
    do {                                                                    \
        const char *g_ = (got), *w_ = (want);                               \
        if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))              \
            diag("  got '%s', want '%s'", g_ ? g_ : "(null)", w_);          \
    } while (0)

/* `got` contains `want` as a substring. */
#define like_str(got, want, ...)                                            \
    do {                                                                    \
        const char *g_ = (got), *w_ = (want);                               \
        if (!ok(g_ && w_ && strstr(g_, w_) != NULL, __VA_ARGS__))           \
            diag("  got '%s', want it to contain '%s'",                     \
                 g_ ? g_ : "(null)", w_);                                   \
    } while (0)

/* Print the plan when none was given, and return the exit status. */
static int TAP_UNUSED_
done_testing(void)
{
    if (!tap_planned_)
        printf("1..%d\n", tap_n_);
    else if (tap_planned_ != tap_n_)
        diag("planned %d tests, ran %d", tap_planned_, tap_n_);
    fflush(stdout);
    return tap_failed_ || (tap_planned_ && tap_planned_ != tap_n_);
}

#endif
