# SPDX-License-Identifier: MIT
# shmring without fences on the busy path, and its fallbacks (issue 13,
# point 5); included from tests/local.mk.
check_PROGRAMS += tests/chan13b-ipc
tests_chan13b_ipc_SOURCES = %reldir%/chan13b-ipc.c %reldir%/tap.h
tests_chan13b_ipc_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/chan13b-ipc
