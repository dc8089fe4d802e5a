# SPDX-License-Identifier: MIT
# Benchmarks of the process work; included from bench/local.mk.
# Add a phony target and append it to BENCH_TARGETS.
EXTRA_PROGRAMS += bench/bench-process bench/bench-true
bench_bench_process_SOURCES = %reldir%/bench-process.c
bench_bench_process_LDADD = libmproc-core.la $(INIH_LIBS)
# Linked as libmproc.so is (framework/local.mk), the static core included.
bench_bench_process_LDFLAGS = $(MPROC_BINDNOW)
# The raw reference: posix_spawn of a tiny static program.
bench_bench_true_SOURCES = %reldir%/bench-true.c
bench_bench_true_LDFLAGS = -all-static
CLEANFILES += bench/bench-process bench/bench-true
EXTRA_DIST += %reldir%/python_process.py

BENCH_TARGETS += bench-process
# Processes per measure: `make bench-process BENCH_PROCESS_N=200`.
BENCH_PROCESS_N = 1000
bench-process: bench/bench-process bench/bench-true mproc-worker
	$(MPROC_BUILD_TREE_ENVIRONMENT) \
	bench/bench-process $(abs_top_builddir)/.libs/echo.so \
	    bench/bench-true $(srcdir)/bench/python_process.py \
	    $(BENCH_PROCESS_N)
