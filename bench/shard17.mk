# SPDX-License-Identifier: MIT
# Shards, mproc merge and the job log's fsync cost (issues 17, 19.6).
BENCH_TARGETS += bench-shard
bench-shard: mproc
	$(SHELL) $(srcdir)/bench/bench-shard.sh ./mproc
EXTRA_DIST += %reldir%/bench-shard.sh
