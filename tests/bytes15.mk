# SPDX-License-Identifier: MIT
# Byte-exact output and exec as operators expect (issue 15, points 3 and
# 4); included from tests/local.mk.
BYTES15_TESTS = \
	%reldir%/bytes15-output.sh \
	%reldir%/bytes15-exec.sh
TESTS += $(BYTES15_TESTS)
EXTRA_DIST += $(BYTES15_TESTS)
