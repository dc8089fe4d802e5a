# SPDX-License-Identifier: MIT
# Tests: TAP programs and scripts run by automake's parallel harness.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
TEST_EXTENSIONS = .sh
SH_LOG_DRIVER = $(LOG_DRIVER)
# No test may hang: each one gets MPROC_TEST_TIMEOUT seconds at most, then
# SIGTERM (SIGKILL 10 s later), and fails.
MPROC_TEST_TIMEOUT = 600
LOG_COMPILER = timeout -k 10 $(MPROC_TEST_TIMEOUT)
SH_LOG_COMPILER = timeout -k 10 $(MPROC_TEST_TIMEOUT) $(SHELL)
AM_TESTS_ENVIRONMENT = \
	MPROC_PLUGIN_PATH='$(abs_top_builddir)/.libs'; export MPROC_PLUGIN_PATH; \
	MPROC_TEST_PLUGINS='$(abs_top_builddir)/tests/.libs'; export MPROC_TEST_PLUGINS; \
	MPROC_BIN='$(abs_top_builddir)/.libs/mproc'; \
	test -x "$$MPROC_BIN" || MPROC_BIN='$(abs_top_builddir)/mproc'; export MPROC_BIN; \
	MPROC_SRCDIR='$(abs_top_srcdir)'; export MPROC_SRCDIR; \
	MPROC_BUILDDIR='$(abs_top_builddir)'; export MPROC_BUILDDIR; \
	$(MPROC_BUILD_TREE_ENVIRONMENT)
# The build tree's mproc-worker and libmproc, for test programs outside
# the build tree's .libs (libmproc finds the build tree at run time only
# beside .libs/NAME: framework/util/where.c).  The worker, and mproc
# (MPROC_BIN above), are the real programs, not libtool's wrapper
# scripts: the worker's command line is "mproc-worker", and a test that
# looks for mproc's children finds its workers, not the wrapper's
# passing subshells.
MPROC_BUILD_TREE_ENVIRONMENT = \
	MPROC_WORKER='$(abs_top_builddir)/.libs/mproc-worker'; export MPROC_WORKER; \
	LD_LIBRARY_PATH='$(abs_top_builddir)/.libs'$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}; \
	export LD_LIBRARY_PATH;

# Test plugins: broken on purpose, one flaw each.
TEST_PLUGIN_LDFLAGS = -module -avoid-version -shared -no-undefined -rpath /nowhere
check_LTLIBRARIES += \
	tests/nodesc.la tests/badmajor.la tests/newminor.la \
	tests/smalldesc.la tests/initfail.la tests/notasks.la
tests_nodesc_la_SOURCES = %reldir%/plugins/nodesc.c %reldir%/plugins/common.h
tests_nodesc_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_badmajor_la_SOURCES = %reldir%/plugins/badmajor.c
tests_badmajor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_newminor_la_SOURCES = %reldir%/plugins/newminor.c
tests_newminor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_smalldesc_la_SOURCES = %reldir%/plugins/smalldesc.c
tests_smalldesc_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_initfail_la_SOURCES = %reldir%/plugins/initfail.c
tests_initfail_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_notasks_la_SOURCES = %reldir%/plugins/notasks.c
tests_notasks_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_PROGRAMS += tests/test-config tests/test-plugin tests/test-pool \
	tests/conformance-sync
tests_test_config_SOURCES = %reldir%/test-config.c %reldir%/tap.h
tests_test_config_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_plugin_SOURCES = %reldir%/test-plugin.c %reldir%/tap.h
tests_test_plugin_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_pool_SOURCES = %reldir%/test-pool.c %reldir%/tap.h
tests_test_pool_LDADD = libmproc-core.la $(INIH_LIBS)
# One program, run once per backend by tests/sync-BACKEND.sh.
tests_conformance_sync_SOURCES = %reldir%/conformance-sync.c %reldir%/tap.h
tests_conformance_sync_LDADD = libmproc-core.la $(INIH_LIBS)

TESTS += tests/test-config tests/test-plugin tests/test-pool \
	%reldir%/cli-config.sh \
	%reldir%/cli-plugins.sh \
	%reldir%/e2e-echo.sh \
	%reldir%/e2e-wordcount.sh \
	%reldir%/e2e-primes.sh \
	%reldir%/e2e-exec.sh \
	%reldir%/e2e-fault.sh \
	%reldir%/e2e-signals.sh \
	%reldir%/sync-futex.sh \
	%reldir%/sync-posix.sh \
	%reldir%/sync-sysv.sh \
	%reldir%/cli-declare.sh \
	%reldir%/e2e-histogram.sh \
	%reldir%/e2e-limits.sh \
	%reldir%/e2e-joblog.sh \
	%reldir%/e2e-ipc.sh \
	%reldir%/pool-mq.sh %reldir%/pool-shmring.sh \
	%reldir%/fault-mq.sh %reldir%/fault-shmring.sh \
	%reldir%/limits-mq.sh %reldir%/limits-shmring.sh \
	%reldir%/signals-mq.sh %reldir%/signals-shmring.sh \
	%reldir%/plugin-author.sh %reldir%/shmring-arena.sh \
	%reldir%/spdx.sh

EXTRA_DIST += %reldir%/lib.sh %reldir%/summary.sh %reldir%/cli-config.sh \
	%reldir%/cli-plugins.sh %reldir%/e2e-echo.sh %reldir%/e2e-wordcount.sh \
	%reldir%/e2e-primes.sh %reldir%/e2e-exec.sh %reldir%/e2e-fault.sh \
	%reldir%/e2e-signals.sh %reldir%/sync-futex.sh %reldir%/sync-posix.sh \
	%reldir%/sync-sysv.sh %reldir%/cli-declare.sh %reldir%/e2e-histogram.sh \
	%reldir%/e2e-limits.sh %reldir%/e2e-joblog.sh %reldir%/e2e-ipc.sh \
	%reldir%/pool-mq.sh %reldir%/pool-shmring.sh \
	%reldir%/fault-mq.sh %reldir%/fault-shmring.sh \
	%reldir%/limits-mq.sh %reldir%/limits-shmring.sh \
	%reldir%/signals-mq.sh %reldir%/signals-shmring.sh \
	%reldir%/plugin-author.sh %reldir%/shmring-arena.sh %reldir%/spdx.sh

include %reldir%/process.mk
include %reldir%/ipc.mk
include %reldir%/poolapi.mk

# `make test`: the whole suite, ending with one "N passed, N failed" line.
test:
	@$(MAKE) $(AM_MAKEFLAGS) check; rc=$$?; \
	$(SHELL) $(top_srcdir)/tests/summary.sh $(top_builddir); exit $$rc
.PHONY: test
include %reldir%/cli-fixes.mk
include %reldir%/engine-fixes.mk
include %reldir%/apool-fixes.mk
include %reldir%/process-fixes.mk
include %reldir%/sync-fixes.mk
include %reldir%/ipc-fixes.mk
include %reldir%/sync12.mk
include %reldir%/man14.mk
include %reldir%/bytes15.mk
include %reldir%/exec15.mk
include %reldir%/cfg.mk
include %reldir%/run13.mk
include %reldir%/build.mk
include %reldir%/conn16.mk
include %reldir%/mgr16.mk
include %reldir%/obj16.mk
include %reldir%/shard17.mk
include %reldir%/ops15.mk
include %reldir%/dbg19.mk
include %reldir%/stat19.mk
include %reldir%/mpi18.mk
include %reldir%/bench.mk
include %reldir%/api13.mk
include %reldir%/chan13.mk
include %reldir%/mgrjob16.mk
include %reldir%/start13.mk
include %reldir%/start13b.mk
include %reldir%/res16.mk
include %reldir%/chan13b.mk
include %reldir%/exec-stranger.mk
include %reldir%/null-handles.mk
