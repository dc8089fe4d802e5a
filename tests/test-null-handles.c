/* SPDX-License-Identifier: MIT */
/*
 * Every public function that takes a handle, called with a NULL handle
 * (a stranger's report, 2026-12: most of them crashed, while Queue, Pipe
 * and Connection returned MPROC_EINVAL).  The rule, as mproc-error(3)
 * states it: a call that returns an error code returns MPROC_EINVAL; a
 * call with no error channel returns 0, false or NULL; an errmsg call
 * returns a non-empty string; a free or a void call does nothing.
 *
 * Then calls given NULL for another pointer (an out or a name).
 *
 * Each call runs in a child of its own, so a crash is one failed case
 * and the others still run.  Only the handle is NULL: every other
 * argument is valid, so the handle is what is checked.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/mproc.h>

#include "tap.h"

#define EINV ((long)MPROC_EINVAL)

/* Valid arguments for everything but the handle. */
static char buf[64];
static size_t len;
static int code;
static double d;
static int64_t i64;
static const void *cp;
static void *vp;
static const struct mproc_result *res1;
static const struct mproc_kv *kv;
static const struct mproc_item item = {0};
static const struct mproc_input input = {&item, 1, NULL, NULL};
static const struct mproc_args args = {&item, 1};
static const struct mproc_mbytes mb = {"k", 1};
static mproc_conn_t *conn;
static mproc_mobj_t *mobj;
static mproc_async_t *async;
static mproc_imap_t *imap;
static mproc_lock_t *lock;
static mproc_sem_t *sem;
static mproc_event_t *event;
static mproc_cond_t *cond;
static mproc_barrier_t *barrier;
static mproc_value_t *value;

static int
task(struct mproc_ctx *ctx, const void *in, size_t n, uint64_t index,
     struct mproc_buf *out)
{
    (void)ctx, (void)in, (void)n, (void)index, (void)out;
    return 0;
}

static int
star(struct mproc_ctx *ctx, const struct mproc_item *a, size_t n,
     uint64_t index, struct mproc_buf *out)
{
    (void)ctx, (void)a, (void)n, (void)index, (void)out;
    return 0;
}

static int
next(void *user, struct mproc_item *it)
{
    (void)user, (void)it;
    return 0;
}

static int
on_result(void *user, const struct mproc_result *r)
{
    (void)user, (void)r;
    return 0;
}

/* A string call's answer: 1 when non-empty (and readable). */
static long
str_ok(const char *s)
{
    return s != NULL && strlen(s) > 0;
}

/* A void call's answer. */
#define VOID_(call) ((call), 0L)

/* X(name, wanted, expression): one case each. */
#define CASES(X)                                                              \
    /* config.h */                                                            \
    X(config_new_out, EINV, mproc_config_new(NULL, NULL))                     \
    X(config_load, EINV, mproc_config_load(NULL, "/dev/null", NULL))          \
    X(config_set, EINV, mproc_config_set(NULL, "pool.workers=1", NULL))       \
    X(config_finish, EINV, mproc_config_finish(NULL, NULL))                   \
    X(config_get, 0, mproc_config_get(NULL, "pool", "workers"))               \
    X(config_where, 0, mproc_config_where(NULL, "pool", "workers"))           \
    X(config_args, 0, mproc_config_args(NULL, &kv))                           \
    X(config_free, 0, VOID_(mproc_config_free(NULL)))                         \
    /* connection.h */                                                        \
    X(listener_open_out, EINV,                                                \
      mproc_listener_open(NULL, "/tmp/x", NULL, 0, NULL, NULL))               \
    X(listener_accept, EINV, mproc_listener_accept(NULL, 0, &conn))           \
    X(listener_address, 0, mproc_listener_address(NULL))                      \
    X(listener_fd, EINV, mproc_listener_fd(NULL))                             \
    X(listener_close, EINV, mproc_listener_close(NULL))                       \
    X(listener_free, 0, VOID_(mproc_listener_free(NULL)))                     \
    X(listener_errmsg, 1, str_ok(mproc_listener_errmsg(NULL)))                \
    X(client_connect_out, EINV,                                               \
      mproc_client_connect(NULL, "/tmp/x", NULL, 0, 0, NULL, NULL))           \
    X(conn_from_fd_out, EINV, mproc_conn_from_fd(NULL, 0, NULL, NULL))        \
    X(conn_pair_out, EINV, mproc_conn_pair(NULL, NULL, NULL, NULL))           \
    X(conn_send_bytes, EINV, mproc_conn_send_bytes(NULL, "x", 1, 0))          \
    X(conn_recv_bytes, EINV,                                                  \
      mproc_conn_recv_bytes(NULL, buf, sizeof buf, &len, 0))                  \
    X(conn_recv_alloc, EINV, mproc_conn_recv_alloc(NULL, &vp, &len, 0))       \
    X(conn_poll, EINV, mproc_conn_poll(NULL, 0))                              \
    X(conn_fd, EINV, mproc_conn_fd(NULL))                                     \
    X(conn_close, EINV, mproc_conn_close(NULL))                               \
    X(conn_free, 0, VOID_(mproc_conn_free(NULL)))                             \
    X(conn_errmsg, 1, str_ok(mproc_conn_errmsg(NULL)))                        \
    X(conn_peer_pid, 0, mproc_conn_peer_pid(NULL))                            \
    /* manager.h */                                                           \
    X(manager_start_out, EINV, mproc_manager_start(NULL, NULL, NULL))         \
    X(manager_connect_out, EINV,                                              \
      mproc_manager_connect(NULL, "/tmp/x", "k", 1, NULL))                    \
    X(manager_address, 0, mproc_manager_address(NULL))                        \
    X(manager_authkey, 0, mproc_manager_authkey(NULL, &len))                  \
    X(manager_pid, 0, mproc_manager_pid(NULL))                                \
    X(manager_shutdown, EINV, mproc_manager_shutdown(NULL))                   \
    X(manager_free, 0, VOID_(mproc_manager_free(NULL)))                       \
    X(manager_errmsg, 1, str_ok(mproc_manager_errmsg(NULL)))                  \
    X(manager_item, 0, mproc_manager_item(NULL, 0, &len))                     \
    X(manager_open, EINV,                                                     \
      mproc_manager_open(NULL, MPROC_MOBJ_DICT, "n", NULL, 0, &mobj))         \
    X(manager_find, EINV, mproc_manager_find(NULL, "n", &mobj))               \
    X(manager_unlink, EINV, mproc_manager_unlink(NULL, "n"))                  \
    X(mobj_free, 0, VOID_(mproc_mobj_free(NULL)))                             \
    X(mobj_type, EINV, mproc_mobj_type(NULL))                                 \
    X(manager_dict, EINV, mproc_manager_dict(NULL, "n", &mobj))               \
    X(manager_list, EINV, mproc_manager_list(NULL, "n", &mobj))               \
    X(manager_namespace, EINV, mproc_manager_namespace(NULL, "n", &mobj))     \
    X(manager_value, EINV,                                                    \
      mproc_manager_value(NULL, "n", MPROC_T_INT64, &mobj))                   \
    X(manager_array, EINV,                                                    \
      mproc_manager_array(NULL, "n", MPROC_T_INT64, 2, &mobj))                \
    X(manager_queue, EINV, mproc_manager_queue(NULL, "n", 0, false, &mobj))   \
    X(manager_lock, EINV, mproc_manager_lock(NULL, "n", false, &mobj))        \
    X(manager_semaphore, EINV,                                                \
      mproc_manager_semaphore(NULL, "n", 1, false, &mobj))                    \
    X(manager_condition, EINV,                                                \
      mproc_manager_condition(NULL, "n", NULL, &mobj))                        \
    X(manager_event, EINV, mproc_manager_event(NULL, "n", &mobj))             \
    X(manager_barrier, EINV, mproc_manager_barrier(NULL, "n", 2, &mobj))      \
    X(manager_custom, EINV,                                                   \
      mproc_manager_custom(NULL, "n", "t", NULL, 0, &mobj))                   \
    X(manager_call, EINV, mproc_manager_call(NULL, "m", NULL, 0, &cp, &len))  \
    X(mdict_set, EINV, mproc_mdict_set(NULL, "a", 1, "b", 1))                 \
    X(mdict_get, EINV, mproc_mdict_get(NULL, "a", 1, &cp, &len))              \
    X(mdict_setdefault, EINV,                                                 \
      mproc_mdict_setdefault(NULL, "a", 1, "b", 1, &cp, &len))                \
    X(mdict_delete, EINV, mproc_mdict_delete(NULL, "a", 1))                   \
    X(mdict_contains, EINV, mproc_mdict_contains(NULL, "a", 1))               \
    X(mdict_len, EINV, mproc_mdict_len(NULL))                                 \
    X(mdict_keys, EINV, mproc_mdict_keys(NULL))                               \
    X(mdict_items, EINV, mproc_mdict_items(NULL))                             \
    X(mdict_pop, EINV, mproc_mdict_pop(NULL, "a", 1, &cp, &len))              \
    X(mdict_clear, EINV, mproc_mdict_clear(NULL))                             \
    X(mdict_update, EINV, mproc_mdict_update(NULL, &mb, 0))                   \
    X(mlist_append, EINV, mproc_mlist_append(NULL, "a", 1))                   \
    X(mlist_extend, EINV, mproc_mlist_extend(NULL, &mb, 1))                   \
    X(mlist_insert, EINV, mproc_mlist_insert(NULL, 0, "a", 1))                \
    X(mlist_get, EINV, mproc_mlist_get(NULL, 0, &cp, &len))                   \
    X(mlist_set, EINV, mproc_mlist_set(NULL, 0, "a", 1))                      \
    X(mlist_pop, EINV, mproc_mlist_pop(NULL, 0, &cp, &len))                   \
    X(mlist_remove, EINV, mproc_mlist_remove(NULL, "a", 1))                   \
    X(mlist_len, EINV, mproc_mlist_len(NULL))                                 \
    X(mlist_reverse, EINV, mproc_mlist_reverse(NULL))                         \
    X(mlist_sort, EINV, mproc_mlist_sort(NULL))                               \
    X(mlist_slice, EINV, mproc_mlist_slice(NULL, 0, 1))                       \
    X(mns_set, EINV, mproc_mns_set(NULL, "f", "a", 1))                        \
    X(mns_get, EINV, mproc_mns_get(NULL, "f", &cp, &len))                     \
    X(mns_delete, EINV, mproc_mns_delete(NULL, "f"))                          \
    X(mns_fields, EINV, mproc_mns_fields(NULL))                               \
    X(marray_len, EINV, mproc_marray_len(NULL))                               \
    X(marray_get, EINV, mproc_marray_get(NULL, 0, &d))                        \
    X(marray_set, EINV, mproc_marray_set(NULL, 0, 1.0))                       \
    X(marray_get_i64, EINV, mproc_marray_get_i64(NULL, 0, &i64))              \
    X(marray_set_i64, EINV, mproc_marray_set_i64(NULL, 0, 1))                 \
    X(marray_add_i64, EINV, mproc_marray_add_i64(NULL, 0, 1, &i64))           \
    X(marray_read, EINV, mproc_marray_read(NULL, buf, 8))                     \
    X(marray_write, EINV, mproc_marray_write(NULL, buf, 8))                   \
    X(mqueue_put, EINV, mproc_mqueue_put(NULL, "a", 1, 0))                    \
    X(mqueue_get, EINV, mproc_mqueue_get(NULL, 0, &cp, &len))                 \
    X(mqueue_qsize, EINV, mproc_mqueue_qsize(NULL))                           \
    X(mqueue_task_done, EINV, mproc_mqueue_task_done(NULL))                   \
    X(mqueue_join, EINV, mproc_mqueue_join(NULL, 0))                          \
    X(mlock_acquire, EINV, mproc_mlock_acquire(NULL, 0))                      \
    X(mlock_release, EINV, mproc_mlock_release(NULL))                         \
    X(msem_acquire, EINV, mproc_msem_acquire(NULL, 0))                        \
    X(msem_release, EINV, mproc_msem_release(NULL))                           \
    X(msem_get_value, EINV, mproc_msem_get_value(NULL))                       \
    X(mcond_acquire, EINV, mproc_mcond_acquire(NULL, 0))                      \
    X(mcond_release, EINV, mproc_mcond_release(NULL))                         \
    X(mcond_wait, EINV, mproc_mcond_wait(NULL, 0))                            \
    X(mcond_notify, EINV, mproc_mcond_notify(NULL, 1))                        \
    X(mcond_notify_all, EINV, mproc_mcond_notify_all(NULL))                   \
    X(mevent_set, EINV, mproc_mevent_set(NULL))                               \
    X(mevent_clear, EINV, mproc_mevent_clear(NULL))                           \
    X(mevent_is_set, EINV, mproc_mevent_is_set(NULL))                         \
    X(mevent_wait, EINV, mproc_mevent_wait(NULL, 0))                          \
    X(mbarrier_wait, EINV, mproc_mbarrier_wait(NULL, 0))                      \
    X(mbarrier_abort, EINV, mproc_mbarrier_abort(NULL))                       \
    X(mbarrier_reset, EINV, mproc_mbarrier_reset(NULL))                       \
    X(mbarrier_n_waiting, EINV, mproc_mbarrier_n_waiting(NULL))               \
    X(mbarrier_broken, EINV, mproc_mbarrier_broken(NULL))                     \
    /* pipe.h */                                                              \
    X(pipe_new_out, EINV, mproc_pipe_new(NULL, NULL, NULL, NULL))             \
    X(pipe_send, EINV, mproc_pipe_send(NULL, "x", 1, 0))                      \
    X(pipe_recv, EINV, mproc_pipe_recv(NULL, buf, sizeof buf, &len, 0))       \
    X(pipe_poll, EINV, mproc_pipe_poll(NULL, 0))                              \
    X(pipe_fileno, EINV, mproc_pipe_fileno(NULL))                             \
    X(pipe_close, EINV, mproc_pipe_close(NULL))                               \
    X(pipe_free, 0, VOID_(mproc_pipe_free(NULL)))                             \
    X(pipe_errmsg, 1, str_ok(mproc_pipe_errmsg(NULL)))                        \
    X(pipe_backend, 0, mproc_pipe_backend(NULL))                              \
    X(pipe_can_send, 0, mproc_pipe_can_send(NULL))                            \
    X(pipe_can_recv, 0, mproc_pipe_can_recv(NULL))                            \
    /* pool.h */                                                              \
    X(pool_new_out, EINV, mproc_pool_new(NULL, NULL, NULL))                   \
    X(pool_run, EINV, mproc_pool_run(NULL, next, on_result, NULL))            \
    X(pool_has_reduce, 0, mproc_pool_has_reduce(NULL))                        \
    X(pool_reduce_output, EINV, mproc_pool_reduce_output(NULL, &cp, &len))    \
    X(pool_task, 0, mproc_pool_task(NULL))                                    \
    X(pool_workers, 0, mproc_pool_workers(NULL))                              \
    X(pool_errmsg, 1, str_ok(mproc_pool_errmsg(NULL)))                        \
    X(pool_free, 0, VOID_(mproc_pool_free(NULL)))                             \
    X(apool_new_out, EINV, mproc_apool_new(NULL, NULL, NULL))                 \
    X(apool_apply_async, EINV,                                                \
      mproc_apool_apply_async(NULL, task, "", 0, NULL, &async))               \
    X(apool_apply, EINV, mproc_apool_apply(NULL, task, "", 0, &async))        \
    X(apool_map_async, EINV,                                                  \
      mproc_apool_map_async(NULL, task, &input, NULL, &async))                \
    X(apool_map, EINV, mproc_apool_map(NULL, task, &input, NULL, &async))     \
    X(apool_starmap_async, EINV,                                              \
      mproc_apool_starmap_async(NULL, star, &args, 1, NULL, &async))          \
    X(apool_starmap, EINV,                                                    \
      mproc_apool_starmap(NULL, star, &args, 1, NULL, &async))                \
    X(apool_imap, EINV, mproc_apool_imap(NULL, task, &input, NULL, &imap))    \
    X(apool_imap_unordered, EINV,                                             \
      mproc_apool_imap_unordered(NULL, task, &input, NULL, &imap))            \
    X(apool_close, EINV, mproc_apool_close(NULL))                             \
    X(apool_terminate, EINV, mproc_apool_terminate(NULL))                     \
    X(apool_join, EINV, mproc_apool_join(NULL))                               \
    X(apool_workers, 0, mproc_apool_workers(NULL))                            \
    X(apool_errmsg, 1, str_ok(mproc_apool_errmsg(NULL)))                      \
    X(apool_free, 0, VOID_(mproc_apool_free(NULL)))                           \
    X(async_get, EINV, mproc_async_get(NULL, 0, &res1, &len))                 \
    X(async_wait, EINV, mproc_async_wait(NULL, 0))                            \
    X(async_ready, 0, mproc_async_ready(NULL))                                \
    X(async_successful, EINV, mproc_async_successful(NULL))                   \
    X(async_errmsg, 1, str_ok(mproc_async_errmsg(NULL)))                      \
    X(async_free, 0, VOID_(mproc_async_free(NULL)))                           \
    X(imap_next, EINV, mproc_imap_next(NULL, 0, &res1))                       \
    X(imap_free, 0, VOID_(mproc_imap_free(NULL)))                             \
    /* process.h */                                                           \
    X(process_new_out, EINV, mproc_process_new(NULL, NULL, NULL))             \
    X(process_start, EINV, mproc_process_start(NULL))                         \
    X(process_join, EINV, mproc_process_join(NULL, 0))                        \
    X(process_is_alive, 0, mproc_process_is_alive(NULL))                      \
    X(process_exitcode, EINV, mproc_process_exitcode(NULL, &code))            \
    X(process_pid, EINV, mproc_process_pid(NULL))                             \
    X(process_sentinel, EINV, mproc_process_sentinel(NULL))                   \
    X(process_terminate, EINV, mproc_process_terminate(NULL))                 \
    X(process_kill, EINV, mproc_process_kill(NULL))                           \
    X(process_name, 0, mproc_process_name(NULL))                              \
    X(process_set_name, EINV, mproc_process_set_name(NULL, "n"))              \
    X(process_daemon, 0, mproc_process_daemon(NULL))                          \
    X(process_set_daemon, EINV, mproc_process_set_daemon(NULL, true))         \
    X(process_result, EINV, mproc_process_result(NULL, &cp, &len))            \
    X(process_failure, 0, mproc_process_failure(NULL))                        \
    X(process_errmsg, 1, str_ok(mproc_process_errmsg(NULL)))                  \
    X(process_close, EINV, mproc_process_close(NULL))                         \
    X(process_free, 0, VOID_(mproc_process_free(NULL)))                       \
    X(process_pass, EINV, mproc_process_pass(NULL, MPROC_PASS_QUEUE, buf))    \
    X(process_pass_obj, EINV, mproc_process_pass(NULL, MPROC_PASS_QUEUE,      \
                                                 NULL))                       \
    X(context_start_method, 0, mproc_context_start_method(NULL))              \
    /* queue.h */                                                             \
    X(queue_new_out, EINV, mproc_queue_new(NULL, NULL, NULL))                 \
    X(queue_put, EINV, mproc_queue_put(NULL, "x", 1, 0))                      \
    X(queue_get, EINV, mproc_queue_get(NULL, buf, sizeof buf, &len, 0))       \
    X(queue_fileno, EINV, mproc_queue_fileno(NULL))                           \
    X(queue_qsize, EINV, mproc_queue_qsize(NULL))                             \
    X(queue_empty, 0, mproc_queue_empty(NULL))                                \
    X(queue_full, 0, mproc_queue_full(NULL))                                  \
    X(queue_close, EINV, mproc_queue_close(NULL))                             \
    X(queue_free, 0, VOID_(mproc_queue_free(NULL)))                           \
    X(queue_errmsg, 1, str_ok(mproc_queue_errmsg(NULL)))                      \
    X(joinable_queue_new_out, EINV,                                           \
      mproc_joinable_queue_new(NULL, NULL, NULL))                             \
    X(queue_task_done, EINV, mproc_queue_task_done(NULL))                     \
    X(queue_join, EINV, mproc_queue_join(NULL, 0))                            \
    X(queue_unfinished, EINV, mproc_queue_unfinished(NULL))                   \
    X(queue_is_joinable, 0, mproc_queue_is_joinable(NULL))                    \
    X(simple_queue_new_out, EINV, mproc_simple_queue_new(NULL, "pipe", NULL)) \
    X(queue_backend, 0, mproc_queue_backend(NULL))                            \
    /* shared.h */                                                            \
    X(value_new_arena, EINV,                                                  \
      mproc_value_new(NULL, MPROC_T_INT64, 1, false, &value, NULL))           \
    X(value_type, EINV, mproc_value_type(NULL))                               \
    X(value_length, 0, mproc_value_length(NULL))                              \
    X(value_lock, 0, mproc_value_lock(NULL))                                  \
    X(value_ptr, 0, mproc_value_ptr(NULL))                                    \
    X(value_get, EINV, mproc_value_get(NULL, 0, &d))                          \
    X(value_set, EINV, mproc_value_set(NULL, 0, 1.0))                         \
    X(value_get_i64, EINV, mproc_value_get_i64(NULL, 0, &i64))                \
    X(value_set_i64, EINV, mproc_value_set_i64(NULL, 0, 1))                   \
    X(value_add_i64, EINV, mproc_value_add_i64(NULL, 0, 1))                   \
    /* shared_memory.h */                                                     \
    X(shm_create_out, EINV, mproc_shm_create(NULL, NULL, 4096, NULL))         \
    X(shm_attach_out, EINV, mproc_shm_attach(NULL, "/nothere", NULL))         \
    X(shm_buf, 0, mproc_shm_buf(NULL))                                        \
    X(shm_size, 0, mproc_shm_size(NULL))                                      \
    X(shm_name, 0, mproc_shm_name(NULL))                                      \
    X(shm_close, EINV, mproc_shm_close(NULL))                                 \
    X(shm_unlink, EINV, mproc_shm_unlink(NULL))                               \
    X(shm_free, 0, VOID_(mproc_shm_free(NULL)))                               \
    X(shm_errmsg, 1, str_ok(mproc_shm_errmsg(NULL)))                          \
    /* sync.h */                                                              \
    X(sync_new_out, EINV, mproc_sync_new(NULL, NULL, 0, NULL))                \
    X(sync_backend, 0, mproc_sync_backend(NULL))                              \
    X(sync_free, 0, VOID_(mproc_sync_free(NULL)))                             \
    X(sync_name, EINV, mproc_sync_name(NULL, "lock", "n", buf))               \
    X(sync_find, 0, mproc_sync_find(NULL, "lock", "n"))                       \
    X(lock_new_arena, EINV, mproc_lock_new(NULL, false, &lock, NULL))         \
    X(lock_acquire, EINV, mproc_lock_acquire(NULL, 0))                        \
    X(lock_release, EINV, mproc_lock_release(NULL))                           \
    X(sem_new_arena, EINV, mproc_sem_new(NULL, 1, false, &sem, NULL))         \
    X(sem_acquire, EINV, mproc_sem_acquire(NULL, 0))                          \
    X(sem_release, EINV, mproc_sem_release(NULL))                             \
    X(sem_get_value, EINV, mproc_sem_get_value(NULL))                         \
    X(event_new_arena, EINV, mproc_event_new(NULL, &event, NULL))             \
    X(event_set, 0, VOID_(mproc_event_set(NULL)))                             \
    X(event_clear, 0, VOID_(mproc_event_clear(NULL)))                         \
    X(event_is_set, 0, mproc_event_is_set(NULL))                              \
    X(event_wait, EINV, mproc_event_wait(NULL, 0))                            \
    X(cond_new_arena, EINV, mproc_cond_new(NULL, NULL, &cond, NULL))          \
    X(cond_lock, 0, mproc_cond_lock(NULL))                                    \
    X(cond_wait, EINV, mproc_cond_wait(NULL, 0))                              \
    X(cond_notify, EINV, mproc_cond_notify(NULL, 1))                          \
    X(cond_notify_all, EINV, mproc_cond_notify_all(NULL))                     \
    X(barrier_new_arena, EINV, mproc_barrier_new(NULL, 2, &barrier, NULL))    \
    X(barrier_wait, EINV, mproc_barrier_wait(NULL, 0))                        \
    X(barrier_abort, 0, VOID_(mproc_barrier_abort(NULL)))                     \
    X(barrier_reset, 0, VOID_(mproc_barrier_reset(NULL)))                     \
    X(barrier_parties, 0, mproc_barrier_parties(NULL))                        \
    X(barrier_n_waiting, 0, mproc_barrier_n_waiting(NULL))                    \
    X(barrier_broken, 0, mproc_barrier_broken(NULL))                          \
    /* Not a handle but another pointer NULL (a library user's pass,      \
     * 2026-12-01: each of these crashed). */                              \
    X(process_opts_init, 0, VOID_(mproc_process_opts_init(NULL)))             \
    X(queue_opts_init, 0, VOID_(mproc_queue_opts_init(NULL)))                 \
    X(pipe_opts_init, 0, VOID_(mproc_pipe_opts_init(NULL)))                   \
    X(pool_opts_init, 0, VOID_(mproc_pool_opts_init(NULL)))                   \
    X(conn_opts_init, 0, VOID_(mproc_conn_opts_init(NULL)))                   \
    X(manager_opts_init, 0, VOID_(mproc_manager_opts_init(NULL)))             \
    X(get_context_out, EINV, mproc_get_context("fork", NULL, NULL))           \
    X(process_passed_out, EINV,                                               \
      mproc_process_passed(MPROC_PASS_QUEUE, 0, NULL))                        \
    X(mns_set_field, EINV, mproc_mns_set(NULL, NULL, "a", 1))                 \
    X(mns_get_field, EINV, mproc_mns_get(NULL, NULL, &cp, &len))              \
    X(mns_delete_field, EINV, mproc_mns_delete(NULL, NULL))                   \
    X(config_args_out, 0, mproc_config_args(NULL, NULL))

#define DEFINE_(name, want, expr)                                             \
    static long c_##name(void) { return (long)(expr); }
CASES(DEFINE_)
#undef DEFINE_

static const struct {
    const char *name;
    long want;
    long (*fn)(void);
} cases[] = {
#define ENTRY_(name, want, expr) {#name, want, c_##name},
    CASES(ENTRY_)
#undef ENTRY_
};

/* Run one case in a child: its answer comes back over a pipe, so a
 * crash or a hang (alarm) is one failed case. */
static void
run(size_t i)
{
    long got = 0;
    int fds[2], st = 0;
    ssize_t n;
    pid_t pid;

    if (pipe(fds) < 0) {
        ok(0, "%s: pipe", cases[i].name);
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(10);
        got = cases[i].fn();
        n = write(fds[1], &got, sizeof got);
        _exit(n == (ssize_t)sizeof got ? 0 : 1);
    }
    close(fds[1]);
    do
        n = read(fds[0], &got, sizeof got);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, &st, 0);
    if (pid < 0 || n != (ssize_t)sizeof got) {
        ok(0, "mproc_%s(NULL) returns %ld", cases[i].name, cases[i].want);
        if (WIFSIGNALED(st))
            diag("killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
        return;
    }
    /* The exit status too: under valgrind, an error in the child makes
     * it exit 1. */
    if (!ok(got == cases[i].want && WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "mproc_%s(NULL) returns %ld", cases[i].name, cases[i].want))
        diag("got %ld (%s), child status 0x%x", got,
             mproc_err_name((int)got), st);
}

int
main(void)
{
    size_t i, n = sizeof cases / sizeof cases[0];

    (void)item;
    alarm(300);
    plan((int)n);
    for (i = 0; i < n; i++)
        run(i);
    return done_testing();
}
