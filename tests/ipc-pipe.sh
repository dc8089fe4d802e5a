#!/bin/sh
# SPDX-License-Identifier: MIT
# The ipc conformance suite on the pipe backend.
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/conformance-ipc" pipe
