# SPDX-License-Identifier: MIT
# Tests of the cli fixes (issues 10, 11, 12); included from tests/local.mk.
CLI_FIXES_TESTS = \
	%reldir%/cli-joblog-bytes.sh \
	%reldir%/cli-fifo.sh \
	%reldir%/cli-full.sh \
	%reldir%/cli-counts.sh \
	%reldir%/cli-longpath.sh
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
