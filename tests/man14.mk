# SPDX-License-Identifier: MIT
# The documentation: every public function in a man page, every page
# whole, every C example of the README and the pages compiled and run.
TESTS += %reldir%/man-coverage.sh %reldir%/doc-examples.sh
EXTRA_DIST += %reldir%/man-coverage.sh %reldir%/doc-examples.sh
