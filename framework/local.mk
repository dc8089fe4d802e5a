# SPDX-License-Identifier: MIT
# libmproc: a noinst core (tests link it to reach internals) wrapped by the
# installed shared library, plus the `mproc` host program, which links the
# shared library like any other user.

mprocincludedir = $(includedir)/mproc
mprocinclude_HEADERS = \
	include/mproc/mproc.h \
	include/mproc/error.h \
	include/mproc/plugin.h \
	include/mproc/config.h \
	include/mproc/pool.h \
	include/mproc/sync.h \
	include/mproc/shared.h \
	include/mproc/log.h \
	include/mproc/shared_memory.h

noinst_LTLIBRARIES += libmproc-core.la
libmproc_core_la_SOURCES = \
	%reldir%/internal.h \
	%reldir%/util/version.c \
	%reldir%/util/where.c \
	%reldir%/util/buf.c \
	%reldir%/util/buf_int.h \
	%reldir%/util/log.c \
	%reldir%/shm/shm.c \
	%reldir%/shm/shm_int.h \
	%reldir%/config/config.c \
	%reldir%/config/parse.c \
	%reldir%/config/config_int.h \
	%reldir%/config/decl.c \
	%reldir%/config/values.c \
	%reldir%/config/args.c \
	%reldir%/plugin/plugin.c \
	%reldir%/plugin/plugin_int.h \
	%reldir%/ipc/frame.c \
	%reldir%/ipc/frame_int.h \
	%reldir%/pool/pool.c \
	%reldir%/pool/items.c \
	%reldir%/pool/dispatch.c \
	%reldir%/pool/harvest.c \
	%reldir%/pool/engine_int.h \
	%reldir%/pool/worker.c \
	%reldir%/pool/start.c \
	%reldir%/pool/api.c \
	%reldir%/pool/api_engine.c \
	%reldir%/pool/jobslab.c \
	%reldir%/pool/api_fork.c \
	%reldir%/pool/api_int.h \
	%reldir%/pool/pool_int.h \
	%reldir%/pool/taskfail_int.h \
	%reldir%/status/status.c \
	%reldir%/status/status_int.h \
	%reldir%/sync/sync_int.h
# Not -fvisibility=hidden: what libmproc exports is said once, by its
# version script (libmproc.sym), which a hidden symbol could not obey.
libmproc_core_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS)
libmproc_core_la_LIBADD = libmproc-sync.la $(INIH_LIBS)

# The sync objects, a part of the core (sync12's folder).
noinst_LTLIBRARIES += libmproc-sync.la
libmproc_sync_la_SOURCES = \
	%reldir%/util/error.c \
	%reldir%/util/signal.c \
	%reldir%/util/kernel.c \
	%reldir%/sync/sync.c \
	%reldir%/sync/sync_int.h \
	%reldir%/sync/wait.c \
	%reldir%/sync/shared.c \
	%reldir%/sync/futex.c \
	%reldir%/sync/posix.c \
	%reldir%/sync/sysv.c
libmproc_sync_la_CFLAGS = $(AM_CFLAGS)

lib_LTLIBRARIES += libmproc.la
libmproc_la_SOURCES =
libmproc_la_LIBADD = libmproc-core.la $(INIH_LIBS)
# -version-info current:revision:age, see configure.ac for the rule.
# The version script exports the public API (MPROC_1) and, under
# MPROC_PRIVATE, the few internals that mproc and mproc-worker use, and
# nothing else.
libmproc_la_LDFLAGS = -no-undefined -version-info $(MPROC_LT_VERSION) \
	-Wl,--version-script=$(srcdir)/%reldir%/libmproc.sym $(MPROC_BINDNOW) \
	-Wl,-Bsymbolic-functions
# start13 (issue 13.4): bind every symbol at load, not at first call: a
# forked Process child would otherwise look up, and write into its copy of
# the GOT, each libc function it calls first (sigaction, pwritev, _exit),
# a dozen page faults per start.
MPROC_BINDNOW = -Wl,-z,now
EXTRA_libmproc_la_DEPENDENCIES = %reldir%/libmproc.sym
EXTRA_DIST += %reldir%/libmproc.sym

bin_PROGRAMS += mproc
mproc_SOURCES = \
	%reldir%/cli/cli.h \
	%reldir%/cli/main.c \
	%reldir%/cli/common.c \
	%reldir%/cli/input.c \
	%reldir%/cli/declare.c \
	%reldir%/cli/joblog.c \
	%reldir%/cli/files.c \
	%reldir%/cli/cmd_run.c \
	%reldir%/cli/cmd_exec.c \
	%reldir%/cli/exec.h \
	%reldir%/cli/exec_int.h \
	%reldir%/cli/exec_sources.c \
	%reldir%/cli/exec_line.c \
	%reldir%/cli/exec_results.c \
	%reldir%/cli/exec_lines.c \
	%reldir%/cli/cmd_check.c \
	%reldir%/cli/cmd_plugins.c \
	%reldir%/cli/cmd_clean.c \
	%reldir%/cli/clean_spill.c \
	%reldir%/cli/cmd_status.c
# shards of a job (mproc merge, mproc slurm)
mproc_SOURCES += %reldir%/cli/cmd_merge.c %reldir%/cli/cmd_slurm.c \
	%reldir%/cli/cmd_bench.c
# The internals the host uses are exported under MPROC_PRIVATE.
mproc_LDADD = libmproc.la $(INIH_LIBS)
include framework/mpi/local.mk
include framework/process/local.mk
include framework/ipc/local.mk
include framework/conn/local.mk
include framework/manager/local.mk
# A job's [manager] (mgrjob16): its keys, and its run.
libmproc_core_la_SOURCES += %reldir%/config/manager.c %reldir%/config/read.c \
	%reldir%/manager/job.c %reldir%/manager/mgrjob_int.h
include framework/debug.mk
