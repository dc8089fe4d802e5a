# SPDX-License-Identifier: MIT
# Tests of the cli fixes (issues 10, 11, 12); included from tests/local.mk.
CLI_FIXES_TESTS = \
	%reldir%/cli-joblog-bytes.sh \
	%reldir%/cli-fifo.sh \
	%reldir%/cli-longline.sh \
	%reldir%/cli-full.sh \
	%reldir%/cli-counts.sh \
	%reldir%/cli-longpath.sh \
	%reldir%/cli-cloexec.sh \
	%reldir%/cli-stranger.sh \
	%reldir%/cli-write-errors.sh \
	%reldir%/cli-plugins-names.sh \
	%reldir%/ops-clean-foreign.sh
TESTS += $(CLI_FIXES_TESTS)
EXTRA_DIST += $(CLI_FIXES_TESTS)

# A plugin in C++ (issue 11.9), when a C++ compiler is there; the test
# skips without it.
if HAVE_CXX
check_LTLIBRARIES += tests/cxx.la
tests_cxx_la_SOURCES = %reldir%/plugins/cxx.cc
tests_cxx_la_CXXFLAGS = -std=c++11 $(MPROC_WARN_CXXFLAGS)
tests_cxx_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
endif
EXTRA_DIST += %reldir%/plugins/cxx.cc
TESTS += %reldir%/cli-cxx.sh
EXTRA_DIST += %reldir%/cli-cxx.sh

# ---- fuzzing (issue 10.4) ----
# libFuzzer targets, built on demand (`make fuzz`, after `configure
# --enable-fuzz CC=clang`), and the same targets behind a plain main()
# that `make check` runs over every seed and every past crash, with any
# compiler.
FUZZ_JOBLOG_SOURCES = %reldir%/fuzz/fuzz-joblog.c framework/cli/joblog.c \
	framework/cli/files.c framework/cli/cli.h
FUZZ_CONFIG_SOURCES = %reldir%/fuzz/fuzz-config.c
FUZZ_FRAME_SOURCES = %reldir%/fuzz/fuzz-frame.c
FUZZ_LDADD = libmproc-core.la $(INIH_LIBS)

check_PROGRAMS += tests/fuzz/replay-joblog tests/fuzz/replay-config \
	tests/fuzz/replay-frame
tests_fuzz_replay_joblog_SOURCES = %reldir%/fuzz/replay.c $(FUZZ_JOBLOG_SOURCES)
tests_fuzz_replay_joblog_LDADD = $(FUZZ_LDADD)
tests_fuzz_replay_config_SOURCES = %reldir%/fuzz/replay.c $(FUZZ_CONFIG_SOURCES)
tests_fuzz_replay_config_LDADD = $(FUZZ_LDADD)
tests_fuzz_replay_frame_SOURCES = %reldir%/fuzz/replay.c $(FUZZ_FRAME_SOURCES)
tests_fuzz_replay_frame_LDADD = $(FUZZ_LDADD)

FUZZ_TARGETS = tests/fuzz/fuzz-joblog tests/fuzz/fuzz-config \
	tests/fuzz/fuzz-frame
EXTRA_PROGRAMS += $(FUZZ_TARGETS)
tests_fuzz_fuzz_joblog_SOURCES = $(FUZZ_JOBLOG_SOURCES)
tests_fuzz_fuzz_joblog_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_joblog_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_config_SOURCES = $(FUZZ_CONFIG_SOURCES)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_frame_SOURCES = $(FUZZ_FRAME_SOURCES)
tests_fuzz_fuzz_frame_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_frame_LDFLAGS = -fsanitize=fuzzer
CLEANFILES += $(FUZZ_TARGETS)
fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz

TESTS += %reldir%/fuzz/replay.sh
EXTRA_DIST += %reldir%/fuzz/replay.sh %reldir%/fuzz/corpus-joblog \
	%reldir%/fuzz/corpus-config %reldir%/fuzz/corpus-frame \
	%reldir%/fuzz/crashes-joblog %reldir%/fuzz/crashes-config
