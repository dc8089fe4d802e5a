# SPDX-License-Identifier: MIT
# Tests of Listeners and Connections (<mproc/connection.h>); included
# from tests/local.mk.
check_PROGRAMS += tests/test-conn
tests_test_conn_SOURCES = %reldir%/test-conn.c %reldir%/tap.h
tests_test_conn_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
TESTS += tests/test-conn %reldir%/conn-unrelated.sh
EXTRA_DIST += %reldir%/conn-unrelated.sh
