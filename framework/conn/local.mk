# SPDX-License-Identifier: MIT
# Listeners and Connections (<mproc/connection.h>): adds its sources to
# the core library here.  Included from framework/local.mk.
libmproc_core_la_SOURCES += \
	%reldir%/conn_int.h \
	%reldir%/address.c \
	%reldir%/auth.c \
	%reldir%/conn.c \
	%reldir%/listener.c
libmproc_core_la_CFLAGS += $(SODIUM_CFLAGS)
libmproc_core_la_LIBADD += $(SODIUM_LIBS)
libmproc_la_LIBADD += $(SODIUM_LIBS)
mprocinclude_HEADERS += include/mproc/connection.h
