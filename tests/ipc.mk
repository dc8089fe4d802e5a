# SPDX-License-Identifier: MIT
# Tests of the ipc work; included from tests/local.mk.
# One conformance program, run once per backend by tests/ipc-BACKEND.sh
# (and once more for mq as an unprivileged user).
check_PROGRAMS += tests/conformance-ipc
tests_conformance_ipc_SOURCES = %reldir%/conformance-ipc.c %reldir%/tap.h
tests_conformance_ipc_LDADD = libmproc-core.la $(INIH_LIBS)

TESTS += \
	%reldir%/ipc-pipe.sh \
	%reldir%/ipc-mq.sh \
	%reldir%/ipc-shmring.sh \
	%reldir%/ipc-mq-unprivileged.sh

EXTRA_DIST += \
	%reldir%/ipc-pipe.sh \
	%reldir%/ipc-mq.sh \
	%reldir%/ipc-shmring.sh \
	%reldir%/ipc-mq-unprivileged.sh
