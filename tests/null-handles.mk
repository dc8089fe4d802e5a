# SPDX-License-Identifier: MIT
# Every public call with a NULL handle returns MPROC_EINVAL (or does
# nothing), never crashes (a stranger's report, 2026-12, item 9);
# included from tests/local.mk.
check_PROGRAMS += tests/test-null-handles
tests_test_null_handles_SOURCES = %reldir%/test-null-handles.c %reldir%/tap.h
tests_test_null_handles_LDADD = libmproc.la
TESTS += tests/test-null-handles
