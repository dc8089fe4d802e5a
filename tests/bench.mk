# SPDX-License-Identifier: MIT
# mproc bench (the host command that times a job under several settings).
TESTS += %reldir%/cli-bench.sh
EXTRA_DIST += %reldir%/cli-bench.sh
