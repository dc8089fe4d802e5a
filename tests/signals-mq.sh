#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/e2e-signals.sh on the mq IPC backend.
MPROC_TEST_IPC=mq; export MPROC_TEST_IPC
exec sh "${MPROC_SRCDIR:-.}/tests/e2e-signals.sh"
