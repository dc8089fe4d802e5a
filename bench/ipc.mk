# Benchmarks of the ipc work; included from bench/local.mk.
# Add a phony target and append it to BENCH_TARGETS.
