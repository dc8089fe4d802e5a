# SPDX-License-Identifier: MIT
dist_man_MANS += \
	%reldir%/mproc.1 \
	%reldir%/mproc.ini.5 \
	%reldir%/mproc-plugin.3 \
	%reldir%/mproc-pool.3 \
	%reldir%/mproc-process.3 \
	%reldir%/mproc-queue.3
