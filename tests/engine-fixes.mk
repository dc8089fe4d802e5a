# SPDX-License-Identifier: MIT
# The pool engine's promises to plugins and commands (issues 10, 11, 12):
# output kept, descriptors not leaked, nothing left running, NUL after
# items, and a stress test killing workers at random.
check_LTLIBRARIES += tests/engine.la
tests_engine_la_SOURCES = %reldir%/plugins/engine.c
tests_engine_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

TESTS += %reldir%/engine-output.sh %reldir%/engine-fds.sh \
	%reldir%/engine-exec-stop.sh %reldir%/engine-start.sh \
	%reldir%/engine-ordered-stop.sh %reldir%/stress-pool.sh
EXTRA_DIST += %reldir%/engine-output.sh %reldir%/engine-fds.sh \
	%reldir%/engine-exec-stop.sh %reldir%/engine-start.sh \
	%reldir%/engine-ordered-stop.sh %reldir%/stress-pool.sh
