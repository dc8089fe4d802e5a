# SPDX-License-Identifier: MIT
# The MPI launcher (issue 18); included from tests/local.mk.  The tests
# skip when MPI is not installed or mproc was built without it.
MPI18_TESTS = \
	%reldir%/mpi18-build.sh \
	%reldir%/mpi18-run.sh \
	%reldir%/mpi18-lost.sh
TESTS += $(MPI18_TESTS)
EXTRA_DIST += $(MPI18_TESTS) %reldir%/mpi18-lib.sh
