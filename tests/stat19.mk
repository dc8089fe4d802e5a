# SPDX-License-Identifier: MIT
# Live status (mproc status) and ipc = auto (issue 19, points 1 and 7).
TESTS += %reldir%/stat19-status.sh %reldir%/stat19-ipcauto.sh
EXTRA_DIST += %reldir%/stat19-status.sh %reldir%/stat19-ipcauto.sh
check_PROGRAMS += tests/test-status
tests_test_status_SOURCES = %reldir%/test-status.c %reldir%/tap.h
tests_test_status_LDADD = libmproc-core.la $(INIH_LIBS)
TESTS += tests/test-status
