# SPDX-License-Identifier: MIT
# Benchmarks of Listeners and Connections; included from bench/local.mk.
# mproc against a bare socket pair and Python's multiprocessing.connection,
# in one run.
EXTRA_PROGRAMS += bench/bench-conn
bench_bench_conn_SOURCES = %reldir%/bench-conn.c
bench_bench_conn_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
CLEANFILES += bench/bench-conn
EXTRA_DIST += %reldir%/python_conn.py

BENCH_TARGETS += bench-conn
bench-conn: bench/bench-conn
	bench/bench-conn $(srcdir)/bench/python_conn.py
