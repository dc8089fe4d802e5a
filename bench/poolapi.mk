# SPDX-License-Identifier: MIT
# Benchmarks of the poolapi work; included from bench/local.mk.
# The Pool API against Python's Pool and ProcessPoolExecutor, and
# `mproc run` with the exec plugin against xargs -P and GNU parallel.
EXTRA_PROGRAMS += bench/bench-pool
bench_bench_pool_SOURCES = %reldir%/bench-pool.c
bench_bench_pool_LDADD = libmproc-core.la $(INIH_LIBS)
CLEANFILES += bench/bench-pool
EXTRA_DIST += %reldir%/python_pool.py %reldir%/bench-exec.sh

BENCH_TARGETS += bench-pool
bench-pool: bench/bench-pool mproc
	$(MPROC_BUILD_TREE_ENVIRONMENT) \
	bench/bench-pool $(srcdir)/bench/python_pool.py
	MPROC_BIN=$(abs_top_builddir)/mproc \
	MPROC_PLUGIN_PATH=$(abs_top_builddir)/.libs \
	    $(SHELL) $(srcdir)/bench/bench-exec.sh
