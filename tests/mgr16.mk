# SPDX-License-Identifier: MIT
# The Manager (issue 16 points 2 and 3, mgr16): its object logic
# in-process, then clients over real connections, unrelated processes
# sharing objects over unix: and tcp:, dead holders and the standalone
# `mproc manager`.  Included from tests/local.mk.
check_PROGRAMS += tests/test-mgr-core
tests_test_mgr_core_SOURCES = %reldir%/test-mgr-core.c %reldir%/tap.h
tests_test_mgr_core_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-mgr-core

check_PROGRAMS += tests/test-manager
tests_test_manager_SOURCES = %reldir%/test-manager.c %reldir%/tap.h
tests_test_manager_LDADD = libmproc.la
TESTS += tests/test-manager

check_PROGRAMS += tests/mgr16-client
tests_mgr16_client_SOURCES = %reldir%/mgr16-client.c
tests_mgr16_client_LDADD = libmproc.la
check_LTLIBRARIES += tests/mgr16-types.la
tests_mgr16_types_la_SOURCES = %reldir%/mgr16-types.c
tests_mgr16_types_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
TESTS += tests/mgr16-unrelated.sh
EXTRA_DIST += tests/mgr16-unrelated.sh

# The same-host fast path (mgrfast16): shared-memory rings over unix:.
check_PROGRAMS += tests/mgr16-ring
tests_mgr16_ring_SOURCES = %reldir%/mgr16-ring.c %reldir%/tap.h
tests_mgr16_ring_LDADD = libmproc.la
TESTS += tests/mgr16-ring

# What an outside tester found (mgr16 fixes): SIGINT and the private
# folder with every start method, max_message, CHAR arrays, messages.
check_PROGRAMS += tests/mgr16-stranger
tests_mgr16_stranger_SOURCES = %reldir%/mgr16-stranger.c %reldir%/tap.h
tests_mgr16_stranger_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
TESTS += tests/mgr16-stranger
TESTS += tests/mgr16-cli.sh
EXTRA_DIST += tests/mgr16-cli.sh

# What an outside tester found (s16): an empty name is refused by the
# constructors as by find and unlink.
check_PROGRAMS += tests/mgr16-names
tests_mgr16_names_SOURCES = %reldir%/mgr16-names.c %reldir%/tap.h
tests_mgr16_names_LDADD = libmproc.la
TESTS += tests/mgr16-names

# (s16) The owner removes the private folder a SIGKILLed server left.
check_PROGRAMS += tests/mgr16-killed
tests_mgr16_killed_SOURCES = %reldir%/mgr16-killed.c %reldir%/tap.h
tests_mgr16_killed_LDADD = libmproc.la
TESTS += tests/mgr16-killed

# (s16) A forked child's calls on an inherited connection are refused.
check_PROGRAMS += tests/mgr16-fork
tests_mgr16_fork_SOURCES = %reldir%/mgr16-fork.c %reldir%/tap.h
tests_mgr16_fork_LDADD = libmproc.la
TESTS += tests/mgr16-fork
