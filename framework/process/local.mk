# SPDX-License-Identifier: MIT
# The process module (Process objects, start methods): adds its sources to
# the core library and its programs here.  Included from framework/local.mk.
mprocinclude_HEADERS += include/mproc/process.h

# In this order: the static locks a fork start writes after its fork
# (children.c's list, result.c's pool, fork.c's hold) are then laid out in
# one page, one copy-on-write fault per start instead of two (issue 13.4).
libmproc_core_la_SOURCES += \
	%reldir%/process_int.h \
	%reldir%/process.c \
	%reldir%/children.c \
	%reldir%/result.c \
	%reldir%/fork.c \
	%reldir%/boot.c \
	%reldir%/context.c \
	%reldir%/launch.c \
	%reldir%/pass.c \
	%reldir%/server.c
# Where the spawn and forkserver start methods find the worker program
# once installed (launch.c; the build tree's copy is found at run time,
# tests name it in MPROC_WORKER).  $(pkglibdir), not $(libexecdir): it
# belongs with the library (a multiarch library package owns it), so the
# library alone supports every start method.
# (MPROC_WORKER_PATH in framework/paths.h.)
libmproc_core_la_CPPFLAGS = $(AM_CPPFLAGS)

# The image that spawn and forkserver run: fresh, with only the
# descriptors it is given.  It links the shared libmproc, where a plugin
# target finds libmproc's functions (current_process ...) too.
mprocworkerdir = $(pkglibdir)
mprocworker_PROGRAMS = mproc-worker
mproc_worker_SOURCES = %reldir%/worker_main.c
mproc_worker_LDADD = libmproc.la
mproc_worker_LDFLAGS = -Wl,--as-needed
