# SPDX-License-Identifier: MIT
# Benchmarks: never part of make check.  `make bench` builds and runs them;
# each measures its references (raw primitives, Python) in the same run.
EXTRA_PROGRAMS += bench/bench-sync
bench_bench_sync_SOURCES = %reldir%/bench-sync.c
bench_bench_sync_LDADD = libmproc-core.la $(INIH_LIBS)
CLEANFILES += bench/bench-sync
EXTRA_DIST += %reldir%/python_sync.py %reldir%/README.md

BENCH_TARGETS = bench-sync
bench-sync: bench/bench-sync
	bench/bench-sync $(srcdir)/bench/python_sync.py

# mproc run of 200,000 echo items at chunksize 1, 64 and auto on each IPC
# backend vs Python's Pool, with the targets of issue 13.
BENCH_TARGETS += bench-echo
bench-echo: mproc
	$(SHELL) $(srcdir)/bench/bench-echo.sh ./mproc
EXTRA_DIST += %reldir%/bench-echo.sh %reldir%/python_echo.py

include %reldir%/process.mk
include %reldir%/ipc.mk
include %reldir%/poolapi.mk
include %reldir%/conn.mk
include %reldir%/manager.mk

bench: $(BENCH_TARGETS)
.PHONY: bench $(BENCH_TARGETS)
