# SPDX-License-Identifier: MIT
# Tests of helper ops15's mproc exec work (issue 15's open points);
# included from tests/local.mk.
OPS15_TESTS = \
	%reldir%/ops15-status.sh \
	%reldir%/ops15-linebuffer.sh \
	%reldir%/ops15-halt.sh \
	%reldir%/ops15-lines0.sh \
	%reldir%/ops15-clean.sh \
	%reldir%/ops15-sources.sh
TESTS += $(OPS15_TESTS)
EXTRA_DIST += $(OPS15_TESTS)
