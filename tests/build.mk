# SPDX-License-Identifier: MIT
# Tests of the install layout (issue 14.2); included from tests/local.mk.
# build-layout.sh: what libmproc exports, that mproc, mproc-worker and
# the plugins share the one shared libmproc, no build path in the
# programs, and the build tree found at run time only beside .libs.
# kernel-fallback.sh: mproc on a kernel without memfd_create, pidfd_open
# or clone3 (a seccomp filter, tests/nokernel.c).
check_PROGRAMS += tests/nokernel
tests_nokernel_SOURCES = %reldir%/nokernel.c
TESTS += %reldir%/build-layout.sh %reldir%/kernel-fallback.sh
EXTRA_DIST += %reldir%/build-layout.sh %reldir%/kernel-fallback.sh
# uninstall-dirs.sh: make uninstall leaves no folder of mproc's behind.
TESTS += %reldir%/uninstall-dirs.sh
EXTRA_DIST += %reldir%/uninstall-dirs.sh
AM_TESTS_ENVIRONMENT += \
	MPROC_PKGLIBDIR='$(pkglibdir)'; export MPROC_PKGLIBDIR; \
	MPROC_ABS_SRCDIR='$(abs_top_srcdir)'; export MPROC_ABS_SRCDIR;
