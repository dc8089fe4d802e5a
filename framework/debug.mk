# SPDX-License-Identifier: MIT
# Debugging what failed (issue 19): backtraces of crashed and slow tasks,
# captured in the worker with libunwind and symbolised in the host with
# elfutils' libdw; poison-item quarantine; mproc rerun.
libmproc_core_la_SOURCES += \
	%reldir%/pool/crash_int.h \
	%reldir%/pool/crash.c \
	%reldir%/pool/crash_sym.c \
	%reldir%/pool/quarantine.c
libmproc_core_la_CFLAGS += $(UNWIND_CFLAGS) $(DW_CFLAGS)
# libdw: its headers only; crash_sym.c opens it with dlopen() when it
# shows a trace (it says why).
libmproc_core_la_LIBADD += $(UNWIND_LIBS)
libmproc_la_LIBADD += $(UNWIND_LIBS)
mproc_SOURCES += \
	%reldir%/cli/debug.c \
	%reldir%/cli/cmd_rerun.c
