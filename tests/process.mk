# Tests of the process work; included from tests/local.mk.
