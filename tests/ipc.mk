# Tests of the ipc work; included from tests/local.mk.
