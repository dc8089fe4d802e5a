# SPDX-License-Identifier: MIT
# The process module (Process objects, start methods): adds its sources to
# the core library and its programs here.  Included from framework/local.mk.
mprocinclude_HEADERS += include/mproc/process.h

libmproc_core_la_SOURCES += \
	%reldir%/process_int.h \
	%reldir%/process.c \
	%reldir%/boot.c \
	%reldir%/context.c \
	%reldir%/fork.c \
	%reldir%/launch.c \
	%reldir%/server.c
# Where the spawn and forkserver start methods find the worker program
# once installed (launch.c; the build tree's copy is found at run time).
libmproc_core_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMPROC_WORKER_PATH='"$(pkglibexecdir)/mproc-worker"'

# The image that spawn and forkserver run: fresh, with only the
# descriptors it is given.
pkglibexec_PROGRAMS = mproc-worker
mproc_worker_SOURCES = %reldir%/worker_main.c
mproc_worker_LDADD = libmproc-core.la $(INIH_LIBS)
# Exported, so a plugin target can call libmproc (current_process ...)
# as it can in a program that links it.
mproc_worker_LDFLAGS = -Wl,--as-needed -export-dynamic
