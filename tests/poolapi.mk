# Tests of the poolapi work; included from tests/local.mk.
