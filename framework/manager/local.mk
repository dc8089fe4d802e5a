# SPDX-License-Identifier: MIT
# The Manager (mgr16): a server process owning objects that any client
# shares.  Included from framework/local.mk.
mprocinclude_HEADERS += include/mproc/manager.h

libmproc_core_la_SOURCES += \
	%reldir%/mgr_int.h \
	%reldir%/mgr_srv.h \
	%reldir%/mgr_client.h \
	%reldir%/ring.h \
	%reldir%/ring.c \
	%reldir%/core.c \
	%reldir%/data.c \
	%reldir%/wait.c \
	%reldir%/server.c \
	%reldir%/client.c \
	%reldir%/start.c
# Where mproc_manager_start(spawn) finds `mproc` once installed
# ($MPROC_BIN overrides it, as the tests do): MPROC_BINDIR in
# framework/paths.h.

mproc_SOURCES += framework/cli/cmd_manager.c
