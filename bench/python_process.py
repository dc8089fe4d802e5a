# SPDX-License-Identifier: MIT
# Python's Process start + join per start method (from the anchors'
# python_sync_process.py), for bench/bench-process: one line per method,
# "METHOD MEDIAN_MS".
import multiprocessing as mp
import statistics
import time


def noop():
    pass


if __name__ == "__main__":
    for m in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(m)
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        n = 200 if m == "fork" else 40
        v = []
        for _ in range(n):
            t = time.perf_counter()
            p = ctx.Process(target=noop)
            p.start()
            p.join()
            v.append((time.perf_counter() - t) * 1e3)
        print(m, "%.3f" % statistics.median(v), flush=True)
