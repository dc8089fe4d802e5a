/* SPDX-License-Identifier: MIT */
/*
 * bench-conn: Listeners and Connections against a bare socket and
 * against Python's multiprocessing.connection, in the same run.  Not a
 * test: it prints medians of 3 runs and the ratios.
 *
 *   make bench-conn     (or: bench/bench-conn [bench/python_conn.py])
 *
 *   ping-pong 64 B   round trips per second, an echo server in a child,
 *                    over unix:PATH and tcp:127.0.0.1, with an authkey;
 *                    raw: write()/read() of the same 72 bytes (length and
 *                    message) over a bare Unix stream socket pair;
 *   connect          Client + handshake with an authkey, accepted and
 *                    closed, per second, over unix:PATH.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc/connection.h>

#define REPS 3
static const char KEY[] = "bench authkey";
static const double DUR = 0.5;

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median(double *v)
{
    qsort(v, REPS, sizeof(*v), cmp);
    return v[REPS / 2];
}

/* Echo every message of every client until each hangs up. */
static void
echo_server(mproc_listener_t *l, int clients)
{
    for (int i = 0; i < clients; i++) {
        mproc_conn_t *c;
        char buf[256];
        size_t n;
        if (mproc_listener_accept(l, 10000, &c) < 0)
            _exit(1);
        while (mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, -1) == 0)
            mproc_conn_send_bytes(c, buf, n, -1);
        mproc_conn_free(c);
    }
    _exit(0);
}

static double
pingpong(const char *address)
{
    mproc_listener_t *l;
    mproc_err_t e;
    double rates[REPS];
    pid_t pid;

    if (mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, &e) < 0) {
        fprintf(stderr, "bench-conn: %s\n", e.msg);
        exit(1);
    }
    if ((pid = fork()) == 0)
        echo_server(l, REPS);
    for (int r = 0; r < REPS; r++) {
        mproc_conn_t *c;
        char msg[64] = { 0 }, buf[64];
        size_t len;
        long n = 0;
        double t0;
        if (mproc_client_connect(&c, mproc_listener_address(l), KEY,
                                 strlen(KEY), 10000, NULL, &e) < 0) {
            fprintf(stderr, "bench-conn: %s\n", e.msg);
            exit(1);
        }
        t0 = now();
        while (now() - t0 < DUR) {
            for (int i = 0; i < 100; i++) {
                mproc_conn_send_bytes(c, msg, sizeof(msg), -1);
                mproc_conn_recv_bytes(c, buf, sizeof(buf), &len, -1);
            }
            n += 100;
        }
        rates[r] = (double)n / (now() - t0);
        mproc_conn_free(c);
    }
    waitpid(pid, NULL, 0);
    mproc_listener_free(l);
    return median(rates);
}

static double
raw_pingpong(void)
{
    double rates[REPS];

    for (int r = 0; r < REPS; r++) {
        int sv[2];
        char buf[72] = { 0 };
        long n = 0;
        double t0;
        pid_t pid;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            exit(1);
        if ((pid = fork()) == 0) {
            close(sv[0]);
            while (read(sv[1], buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
                   write(sv[1], buf, sizeof(buf)) == (ssize_t)sizeof(buf))
                ;
            _exit(0);
        }
        close(sv[1]);
        t0 = now();
        while (now() - t0 < DUR) {
            for (int i = 0; i < 100; i++)
                if (write(sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
                    read(sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                    exit(1);
            n += 100;
        }
        rates[r] = (double)n / (now() - t0);
        close(sv[0]);
        waitpid(pid, NULL, 0);
    }
    return median(rates);
}

static double
connects(const char *address)
{
    mproc_listener_t *l;
    mproc_err_t e;
    double rates[REPS];
    pid_t pid;

    if (mproc_listener_open(&l, address, KEY, strlen(KEY), NULL, &e) < 0) {
        fprintf(stderr, "bench-conn: %s\n", e.msg);
        exit(1);
    }
    if ((pid = fork()) == 0) {
        for (;;) {
            mproc_conn_t *c;
            char buf[16];
            size_t n;
            if (mproc_listener_accept(l, -1, &c) < 0)
                continue;
            if (mproc_conn_recv_bytes(c, buf, sizeof(buf), &n, 5000) == 0 &&
                n == 4 && memcmp(buf, "stop", 4) == 0)
                _exit(0);
            mproc_conn_free(c);
        }
    }
    for (int r = 0; r < REPS; r++) {
        long n = 0;
        double t0 = now();
        while (now() - t0 < DUR) {
            mproc_conn_t *c;
            if (mproc_client_connect(&c, address, KEY, strlen(KEY), 10000,
                                     NULL, &e) < 0) {
                fprintf(stderr, "bench-conn: %s\n", e.msg);
                exit(1);
            }
            mproc_conn_send_bytes(c, "go", 2, -1);
            mproc_conn_free(c);
            n++;
        }
        rates[r] = (double)n / (now() - t0);
    }
    {
        mproc_conn_t *c;
        if (mproc_client_connect(&c, address, KEY, strlen(KEY), 10000, NULL,
                                 NULL) == 0) {
            mproc_conn_send_bytes(c, "stop", 4, -1);
            mproc_conn_free(c);
        }
    }
    waitpid(pid, NULL, 0);
    mproc_listener_free(l);
    return median(rates);
}

/* Python's figure for `key` from python_conn.py's output, or 0. */
static double
python(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? atof(p + strlen(key) + 1) : 0;
}

static void
row(const char *what, double mproc, double ref, const char *refname)
{
    printf("%-28s %12.0f %12.0f %8.2fx  (vs %s)\n", what, mproc, ref,
           ref > 0 ? mproc / ref : 0.0, refname);
}

int
main(int argc, char **argv)
{
    char dir[] = "/tmp/mproc-bench-conn-XXXXXX", a1[128], a2[128];
    char py[1024] = "";
    double pu, pt, raw, cu;

    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return 1;
    snprintf(a1, sizeof(a1), "unix:%s/p.sock", dir);
    snprintf(a2, sizeof(a2), "unix:%s/c.sock", dir);
    if (argc > 1) {
        char cmd[512];
        FILE *f;
        snprintf(cmd, sizeof(cmd), "python3 %s", argv[1]);
        if ((f = popen(cmd, "r"))) {
            size_t n = fread(py, 1, sizeof(py) - 1, f);
            py[n] = '\0';
            pclose(f);
        }
    }
    pu = pingpong(a1);
    pt = pingpong("tcp:127.0.0.1:0");
    raw = raw_pingpong();
    cu = connects(a2);
    rmdir(dir);
    printf("bench-conn: medians of %d runs of %.1f s; per second, 64-byte "
           "messages, authkey on\n", REPS, DUR);
    printf("%-28s %12s %12s %9s\n", "", "mproc", "reference", "ratio");
    row("ping-pong unix:", pu, raw, "bare socketpair");
    row("ping-pong unix:", pu, python(py, "pingpong_unix"), "Python");
    row("ping-pong tcp:127.0.0.1", pt, python(py, "pingpong_tcp"), "Python");
    row("connect+handshake unix:", cu, python(py, "connect_unix"), "Python");
    return 0;
}
