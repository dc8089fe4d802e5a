# SPDX-License-Identifier: MIT
# Python's Process start + join per start method (from the anchors'
# python_sync_process.py), for bench/bench-process: one line per method,
# "METHOD MEDIAN_MS" (the methods named as arguments, or all three).
#
# With the argument "serve": for each line "K" read from stdin, K fork
# starts + joins in a row, their times printed on one line in
# microseconds, so that bench-process can take Python's fork starts in
# blocks between its own (same machine load; both in a loop, warm).
import multiprocessing as mp
import statistics
import sys
import time


def noop():
    pass


def serve():
    ctx = mp.get_context("fork")
    for line in sys.stdin:
        v = []
        for _ in range(int(line)):
            t = time.perf_counter()
            p = ctx.Process(target=noop)
            p.start()
            p.join()
            v.append("%.1f" % ((time.perf_counter() - t) * 1e6))
        print(" ".join(v), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
elif __name__ == "__main__":
    for m in sys.argv[1:] or ("fork", "spawn", "forkserver"):
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
