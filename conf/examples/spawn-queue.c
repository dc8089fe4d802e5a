/* SPDX-License-Identifier: MIT */
/*
 * The tutorial's get_context("spawn") + Queue example, in C.  In Python:
 *
 *     import multiprocessing as mp
 *
 *     def foo(q):
 *         q.put('hello')
 *
 *     if __name__ == '__main__':
 *         ctx = mp.get_context('spawn')
 *         q = ctx.Queue()
 *         p = ctx.Process(target=foo, args=(q,))
 *         p.start()
 *         print(q.get())
 *         p.join()
 *
 * A spawned child is a fresh program, so its target is a plugin task
 * (foo, in spawn-queue-task.c, built as spawnqueue.so on the plugin
 * path), and the Queue is handed to it with mproc_process_pass(): the
 * `args=(q,)` of Python.  Build:
 *
 *     cc spawn-queue.c $(pkg-config --cflags --libs mproc) -o spawn-queue
 *     cc -shared -fPIC spawn-queue-task.c $(pkg-config --cflags mproc) \
 *         -o spawnqueue.so
 *     MPROC_PLUGIN_PATH=. ./spawn-queue
 */
#include <stdio.h>

#include <mproc/mproc.h>

int
main(void)
{
    struct mproc_process_opts o;
    const mproc_context_t *ctx;
    mproc_queue_t *q = NULL;
    mproc_process_t *p = NULL;
    mproc_err_t err;
    char buf[64];
    size_t n;
    int code = -1;

    if (mproc_get_context("spawn", &ctx, &err) < 0 ||
        mproc_queue_new(&q, NULL, &err) < 0) {
        fprintf(stderr, "spawn-queue: %s\n", err.msg);
        return 1;
    }
    mproc_process_opts_init(&o);
    o.target = "spawnqueue:foo";
    o.context = ctx;
    if (mproc_process_new(&p, &o, &err) < 0) {
        fprintf(stderr, "spawn-queue: %s\n", err.msg);
        return 1;
    }
    if (mproc_process_pass(p, MPROC_PASS_QUEUE, q) < 0 ||
        mproc_process_start(p) < 0) {
        fprintf(stderr, "spawn-queue: %s\n", mproc_process_errmsg(p));
        return 1;
    }
    if (mproc_queue_get(q, buf, sizeof(buf), &n, 30000) < 0) {
        fprintf(stderr, "spawn-queue: %s\n", mproc_queue_errmsg(q));
        return 1;
    }
    printf("%.*s\n", (int)n, buf);
    mproc_process_join(p, -1);
    mproc_process_exitcode(p, &code);
    mproc_process_close(p);
    mproc_process_free(p);
    mproc_queue_free(q);
    return code;
}
