# SPDX-License-Identifier: MIT
# Manager round trips vs Python's Manager() (mgr16); included from
# bench/local.mk.
EXTRA_PROGRAMS += bench/bench-manager
bench_bench_manager_SOURCES = %reldir%/bench-manager.c
bench_bench_manager_LDADD = libmproc.la
CLEANFILES += bench/bench-manager
EXTRA_DIST += %reldir%/bench-manager.sh %reldir%/python_manager.py

BENCH_TARGETS += bench-manager
bench-manager: bench/bench-manager
	$(SHELL) $(srcdir)/bench/bench-manager.sh bench/bench-manager
