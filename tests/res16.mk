# SPDX-License-Identifier: MIT
# Interrupted and resumed runs (session 16, --resume stress); included
# from tests/local.mk.
RES16_TESTS = \
	%reldir%/res16-joblog-full.sh \
	%reldir%/res16-worker-kill.sh
TESTS += $(RES16_TESTS)
EXTRA_DIST += $(RES16_TESTS)
