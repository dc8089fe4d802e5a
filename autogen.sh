#!/bin/sh
# SPDX-License-Identifier: MIT
# Generate configure and Makefile.in from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
exec autoreconf -fi
