# SPDX-License-Identifier: MIT
# The pool engine's transport batching and chunksize = auto (issue 13).
TESTS += %reldir%/run-batch.sh %reldir%/run-auto.sh
EXTRA_DIST += %reldir%/run-batch.sh %reldir%/run-auto.sh
