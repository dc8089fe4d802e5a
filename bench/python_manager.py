# SPDX-License-Identifier: MIT
# Python's side of bench/bench-manager.sh: Manager().dict() set+get and
# Manager().Queue() put+get round trips, the median of RUNS runs of N.
# Prints "NAME PAIRS_PER_SECOND" lines.  Usage: python_manager.py N RUNS
import statistics
import sys
import time
from multiprocessing import Manager


def run(fn, n):
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with Manager() as m:
        d = m.dict()
        q = m.Queue()

        def dict_pairs(n):
            for i in range(n):
                k = "key%d" % (i % 1000)
                d[k] = "value"
                d[k]

        def queue_pairs(n):
            for i in range(n):
                q.put("key%d" % (i % 1000))
                q.get()

        dict_pairs(n // 10)
        rd = [run(dict_pairs, n) for _ in range(runs)]
        rq = [run(queue_pairs, n) for _ in range(runs)]
        print("python-dict %.0f" % statistics.median(rd))
        print("python-queue %.0f" % statistics.median(rq))


if __name__ == "__main__":
    main()
