# SPDX-License-Identifier: MIT
# Tests of Listeners and Connections (<mproc/connection.h>); included
# from tests/local.mk.
check_PROGRAMS += tests/test-conn
tests_test_conn_SOURCES = %reldir%/test-conn.c %reldir%/tap.h
tests_test_conn_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
TESTS += tests/test-conn %reldir%/conn-unrelated.sh
EXTRA_DIST += %reldir%/conn-unrelated.sh

# What an outside tester found: a stalled send tells the peer; a client
# hanging up mid-handshake is refused at once.
check_PROGRAMS += tests/conn16-break
tests_conn16_break_SOURCES = %reldir%/conn16-break.c %reldir%/tap.h
tests_conn16_break_LDADD = libmproc.la
TESTS += tests/conn16-break
