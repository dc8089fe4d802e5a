#!/bin/sh
# SPDX-License-Identifier: MIT
# The ipc conformance suite on the mq backend.
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/conformance-ipc" mq
