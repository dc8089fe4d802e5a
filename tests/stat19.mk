# SPDX-License-Identifier: MIT
# Live status (mproc status) and ipc = auto (issue 19, points 1 and 7).
TESTS += %reldir%/stat19-status.sh %reldir%/stat19-ipcauto.sh
EXTRA_DIST += %reldir%/stat19-status.sh %reldir%/stat19-ipcauto.sh
