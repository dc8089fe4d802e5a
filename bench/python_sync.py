# SPDX-License-Identifier: MIT
"""Python's multiprocessing, measured for bench-sync in the same run.

Prints three lines, medians of 3:
  lock_uncontended_acq_rel NS
  value_locked_incr_2procs OPS_PER_S
  event_pingpong_rt US
"""
import multiprocessing as mp
import statistics
import time


def add(value, n):
    for _ in range(n):
        with value.get_lock():
            value.value += 1


def echo(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def lock_ns():
    lock, n = mp.Lock(), 500_000
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - start) / n * 1e9


def incr_ops():
    value, n = mp.Value("i", 0), 100_000
    procs = [mp.Process(target=add, args=(value, n)) for _ in range(2)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    assert value.value == 2 * n
    return 2 * n / elapsed


def pingpong_us():
    ping, pong, n = mp.Event(), mp.Event(), 3000
    child = mp.Process(target=echo, args=(ping, pong, n))
    child.start()
    start = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    elapsed = time.perf_counter() - start
    child.join()
    return elapsed / n * 1e6


if __name__ == "__main__":
    mp.set_start_method("fork")
    for label, fn in (("lock_uncontended_acq_rel", lock_ns),
                      ("value_locked_incr_2procs", incr_ops),
                      ("event_pingpong_rt", pingpong_us)):
        print(label, "%.1f" % statistics.median(fn() for _ in range(3)),
              flush=True)
