# SPDX-License-Identifier: MIT
# Channel waits without a deadline and mq chunk sizing (issue 13, point 5);
# included from tests/local.mk.
check_PROGRAMS += tests/chan13-ipc
tests_chan13_ipc_SOURCES = %reldir%/chan13-ipc.c %reldir%/tap.h
tests_chan13_ipc_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/chan13-ipc
