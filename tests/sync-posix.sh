#!/bin/sh
# SPDX-License-Identifier: MIT
# The sync conformance suite on the posix backend.
exec "${MPROC_BUILDDIR:?run the tests with make check}/tests/conformance-sync" posix
