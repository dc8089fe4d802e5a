# SPDX-License-Identifier: MIT
# Issue 16, points 4-7 (helper obj16): JoinableQueue and SimpleQueue,
# named SharedMemory and its clean-up, shared objects handed to children
# of every start method, the library's log; and the tutorial's spawn +
# Queue example.  Included from tests/local.mk.

# Targets that use objects handed to them (test-pass).
check_LTLIBRARIES += tests/pass.la
tests_pass_la_SOURCES = %reldir%/plugins/pass.c
tests_pass_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_PROGRAMS += tests/test-pass tests/test-jqueue tests/test-shm \
	tests/test-log
tests_test_pass_SOURCES = %reldir%/test-pass.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_pass_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_pass_LDFLAGS = -export-dynamic
tests_test_jqueue_SOURCES = %reldir%/test-jqueue.c %reldir%/tap.h
tests_test_jqueue_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_shm_SOURCES = %reldir%/test-shm.c %reldir%/tap.h
tests_test_shm_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_log_SOURCES = %reldir%/test-log.c %reldir%/tap.h \
	%reldir%/process-util.h
tests_test_log_LDADD = libmproc-core.la $(INIH_LIBS)
tests_test_log_LDFLAGS = -export-dynamic

TESTS += tests/test-pass tests/test-jqueue tests/test-shm tests/test-log \
	%reldir%/obj16-clean.sh %reldir%/obj16-log.sh %reldir%/obj16-example.sh
EXTRA_DIST += %reldir%/obj16-clean.sh %reldir%/obj16-log.sh \
	%reldir%/obj16-example.sh

# The tutorial's spawn + Queue example (conf/examples), built and run by
# tests/obj16-example.sh.
check_PROGRAMS += conf/examples/spawn-queue
conf_examples_spawn_queue_SOURCES = conf/examples/spawn-queue.c
conf_examples_spawn_queue_LDADD = libmproc.la
check_LTLIBRARIES += conf/examples/spawnqueue.la
conf_examples_spawnqueue_la_SOURCES = conf/examples/spawn-queue-task.c
conf_examples_spawnqueue_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
