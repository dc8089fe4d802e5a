# Benchmarks of the process work; included from bench/local.mk.
# Add a phony target and append it to BENCH_TARGETS.
