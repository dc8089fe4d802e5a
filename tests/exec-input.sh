#!/bin/sh
# SPDX-License-Identifier: MIT
. "${MPROC_SRCDIR:-.}/tests/lib.sh"
done_testing
