# SPDX-License-Identifier: MIT
# The IPC module (channel backends, Queue, Pipe): adds its sources to the
# core library here.  Included from framework/local.mk.
libmproc_core_la_SOURCES += \
	%reldir%/chan_int.h \
	%reldir%/ipc.c \
	%reldir%/pipe.c \
	%reldir%/mq.c \
	%reldir%/shmring.c \
	%reldir%/lchan.c \
	%reldir%/queue.c \
	%reldir%/pipe_obj.c \
	%reldir%/auto.c \
	%reldir%/auto_int.h
mprocinclude_HEADERS += include/mproc/queue.h include/mproc/pipe.h
