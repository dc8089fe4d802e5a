# SPDX-License-Identifier: MIT
"""The job of `mproc run conf/echo.ini` in Python: read the lines of a
file, map an identity function over them in Pool(2), write the results.

Usage: python_echo.py FILE CHUNKSIZE|default OUTPUT
Prints the wall time in seconds.
"""
import multiprocessing as mp
import sys
import time


def identity(line):
    return line


def main():
    path, chunk, out = sys.argv[1], sys.argv[2], sys.argv[3]
    t = time.perf_counter()
    with open(path) as f:
        lines = f.read().splitlines()
    with mp.get_context("fork").Pool(2) as pool:
        if chunk == "default":
            results = pool.map(identity, lines)
        else:
            results = pool.map(identity, lines, chunksize=int(chunk))
    with open(out, "w") as f:
        f.write("\n".join(results))
        f.write("\n")
    print(f"{time.perf_counter() - t:.3f}")


if __name__ == "__main__":
    main()
