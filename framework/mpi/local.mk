# SPDX-License-Identifier: MIT
# mpi18: the MPI launcher.  Its logic is plain C in mproc; only the module
# mproc-mpi.so, dlopen()ed by jobs with `launcher = mpi`, links libmpi
# (configure --with-mpi; see launcher.h).
mproc_SOURCES += \
	%reldir%/launcher.h \
	%reldir%/launch.c \
	%reldir%/host.c \
	%reldir%/agent.c \
	%reldir%/wire.c

if HAVE_MPI
# Built in this folder, not beside the plugins in the top .libs: `mproc
# plugins` takes every .so there for a plugin.  Installed as
# $(pkglibdir)/mproc-mpi.so.
pkglib_LTLIBRARIES = %reldir%/mproc-mpi.la
%canon_reldir%_mproc_mpi_la_SOURCES = %reldir%/module.c %reldir%/launcher.h
%canon_reldir%_mproc_mpi_la_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
%canon_reldir%_mproc_mpi_la_LIBADD = $(MPI_LIBS)
%canon_reldir%_mproc_mpi_la_LDFLAGS = -module -avoid-version -no-undefined \
	-shared
else
EXTRA_DIST += %reldir%/module.c
endif

# dlopen()ed by file name, as the plugins are (plugins/local.mk): no .la
# is installed, and uninstall removes the .so libtool no longer knows.
# pkglibdir holds programs' libraries: installed by install-exec.
# Outside the conditional (automake wants each hook once); a build
# without MPI has nothing to remove.
install-exec-hook: install-exec-hook-mpi
install-exec-hook-mpi:
	rm -f "$(DESTDIR)$(pkglibdir)/mproc-mpi.la"
uninstall-hook: uninstall-hook-mpi
uninstall-hook-mpi:
	rm -f "$(DESTDIR)$(pkglibdir)/mproc-mpi.so"
.PHONY: install-exec-hook-mpi uninstall-hook-mpi
