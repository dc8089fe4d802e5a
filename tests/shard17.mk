# SPDX-License-Identifier: MIT
# Shards of a job, mproc merge, crash-consistent job logs (issue 17, and
# issue 19 point 6); tests/slurm-cluster.sh runs in CI only (.ci/run).
check_LTLIBRARIES += tests/sum12.la
tests_sum12_la_SOURCES = %reldir%/plugins/sum12.c
tests_sum12_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

TESTS += %reldir%/shard17.sh %reldir%/shard17-crash.sh \
	%reldir%/merge-stale.sh %reldir%/slurm-paths.sh
EXTRA_DIST += %reldir%/shard17.sh %reldir%/shard17-crash.sh \
	%reldir%/merge-stale.sh %reldir%/slurm-paths.sh \
	%reldir%/slurm-cluster.sh
