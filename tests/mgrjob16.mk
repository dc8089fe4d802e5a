# SPDX-License-Identifier: MIT
# A job's [manager] (mgrjob16): its keys and errors, a started manager's
# clean-up, a running one reached, plugins on every start method, and a
# process outside the run sharing the objects.  Included from
# tests/local.mk.
check_PROGRAMS += tests/mgrjob16-peer
tests_mgrjob16_peer_SOURCES = %reldir%/mgrjob16-peer.c
tests_mgrjob16_peer_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
TESTS += %reldir%/mgrjob16-config.sh %reldir%/mgrjob16-run.sh
EXTRA_DIST += %reldir%/mgrjob16-config.sh %reldir%/mgrjob16-run.sh
check_PROGRAMS += tests/test-mgrjob16
tests_test_mgrjob16_SOURCES = %reldir%/test-mgrjob16.c %reldir%/tap.h
tests_test_mgrjob16_LDADD = libmproc-core.la $(INIH_LIBS) $(SODIUM_LIBS)
TESTS += tests/test-mgrjob16
