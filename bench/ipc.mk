# SPDX-License-Identifier: MIT
# Benchmarks of the ipc work; included from bench/local.mk.
# Each backend against the raw transport it is built on, in one run.
EXTRA_PROGRAMS += bench/bench-ipc
bench_bench_ipc_SOURCES = %reldir%/bench-ipc.c
bench_bench_ipc_LDADD = libmproc-core.la $(INIH_LIBS)
CLEANFILES += bench/bench-ipc

BENCH_TARGETS += bench-ipc
bench-ipc: bench/bench-ipc
	bench/bench-ipc
