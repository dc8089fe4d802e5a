#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's process pools on the task bench-pool runs (f(x) = x * 2), with
2 workers (fork): multiprocessing.Pool and ProcessPoolExecutor.  Prints
"name value unit (min .. max)" lines, medians of 3; bench/bench-pool.c
reads them.  The Pool rows reproduce /work/shared/anchors/python_pool.py;
ProcessPoolExecutor is far slower per task, so it gets fewer tasks."""
import concurrent.futures as cf
import multiprocessing as mp
import statistics
import time


def f(x):
    return x * 2


def med(fn, n=3):
    v = [fn() for _ in range(n)]
    return statistics.median(v), min(v), max(v)


def rate(n, fn):
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def show(name, fn, unit):
    md, lo, hi = med(fn)
    print(f"{name} {md:.1f} {unit} (min {lo:.1f} max {hi:.1f})", flush=True)


def main():
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as p:
        p.map(f, range(1000))

        def apply_rt():
            t = time.perf_counter()
            for i in range(5000):
                p.apply(f, (i,))
            return (time.perf_counter() - t) / 5000 * 1e6

        def apply_async():
            rs = [p.apply_async(f, (i,)) for i in range(100_000)]
            for r in rs:
                r.get()

        show("pool_apply_async", lambda: rate(100_000, apply_async), "tasks/s")
        show("pool_map_default_chunksize",
             lambda: rate(1_000_000, lambda: p.map(f, range(1_000_000))),
             "tasks/s")
        show("pool_map_chunksize1",
             lambda: rate(100_000,
                          lambda: p.map(f, range(100_000), chunksize=1)),
             "tasks/s")
        show("pool_imap",
             lambda: rate(100_000,
                          lambda: sum(1 for _ in p.imap(f, range(100_000)))),
             "tasks/s")
        show("pool_apply_roundtrip", apply_rt, "us")

    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        list(ex.map(f, range(1000)))

        def submit():
            fs = [ex.submit(f, i) for i in range(20_000)]
            for x in fs:
                x.result()

        def submit_rt():
            t = time.perf_counter()
            for i in range(1000):
                ex.submit(f, i).result()
            return (time.perf_counter() - t) / 1000 * 1e6

        show("ppe_submit", lambda: rate(20_000, submit), "tasks/s")
        # Pool's default chunksize rule (len / (4 * workers)), since the
        # executor's own default is 1.
        show("ppe_map_default_chunksize",
             lambda: rate(1_000_000,
                          lambda: list(ex.map(f, range(1_000_000),
                                              chunksize=125_000))),
             "tasks/s")
        show("ppe_map_chunksize1",
             lambda: rate(20_000, lambda: list(ex.map(f, range(20_000)))),
             "tasks/s")
        show("ppe_submit_roundtrip", submit_rt, "us")


def serve():
    """One apply_async measure (100,000 tasks, tasks/s) per line read from
    stdin, on one warm Pool: bench-pool takes them between its own, so
    that both see the machine's load of the same moment."""
    import sys
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as p:
        p.map(f, range(1000))
        for _ in sys.stdin:
            def apply_async():
                rs = [p.apply_async(f, (i,)) for i in range(100_000)]
                for r in rs:
                    r.get()
            print("%.1f" % rate(100_000, apply_async), flush=True)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        main()
