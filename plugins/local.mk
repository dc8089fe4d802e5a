# SPDX-License-Identifier: MIT
# Shipped task plugins: one folder each, installed in $(pkglibdir)/plugins.
PLUGIN_LDFLAGS = -module -avoid-version -shared -no-undefined \
	-export-symbols-regex '^mproc_plugin_v[0-9]+$$'
PLUGIN_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden

plugin_LTLIBRARIES += echo.la wordcount.la primes.la exec.la fault.la \
	histogram.la

echo_la_SOURCES = %reldir%/echo/echo.c
echo_la_CFLAGS = $(PLUGIN_CFLAGS)
echo_la_LDFLAGS = $(PLUGIN_LDFLAGS)

wordcount_la_SOURCES = %reldir%/wordcount/wordcount.c
wordcount_la_CFLAGS = $(PLUGIN_CFLAGS)
wordcount_la_LDFLAGS = $(PLUGIN_LDFLAGS)

primes_la_SOURCES = %reldir%/primes/primes.c
primes_la_CFLAGS = $(PLUGIN_CFLAGS)
primes_la_LDFLAGS = $(PLUGIN_LDFLAGS)

exec_la_SOURCES = %reldir%/exec/exec.c
exec_la_CFLAGS = $(PLUGIN_CFLAGS)
exec_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# mproc__task_status(): the command's exit status as a field.
exec_la_LIBADD = libmproc.la

fault_la_SOURCES = %reldir%/fault/fault.c
fault_la_CFLAGS = $(PLUGIN_CFLAGS)
fault_la_LDFLAGS = $(PLUGIN_LDFLAGS)

histogram_la_SOURCES = %reldir%/histogram/histogram.c
histogram_la_CFLAGS = $(PLUGIN_CFLAGS)
histogram_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# The sync objects come from libmproc, not a copy of their own.
histogram_la_LIBADD = libmproc.la

# mgrcount (mgrjob16): a job's [manager] objects, via mproc_ctx_manager().
plugin_LTLIBRARIES += mgrcount.la
mgrcount_la_SOURCES = %reldir%/mgrcount/mgrcount.c
mgrcount_la_CFLAGS = $(PLUGIN_CFLAGS)
mgrcount_la_LDFLAGS = $(PLUGIN_LDFLAGS)
mgrcount_la_LIBADD = libmproc.la

# Plugins are dlopen()ed by file name: their .la files are of no use once
# installed (and a distribution would have to delete them), so none is
# installed; uninstall removes the .so that libtool no longer knows about.
# plugin_LTLIBRARIES goes with install-data (plugindir has no "exec"),
# so the hook is install-data-hook.
install-data-hook: install-data-hook-plugins
install-data-hook-plugins:
	for p in $(plugin_LTLIBRARIES); do \
	  rm -f "$(DESTDIR)$(plugindir)/$$p"; \
	done
uninstall-hook: uninstall-hook-plugins
uninstall-hook-plugins:
	for p in $(plugin_LTLIBRARIES); do \
	  rm -f "$(DESTDIR)$(plugindir)/$${p%.la}.so"; \
	done
.PHONY: install-data-hook-plugins uninstall-hook-plugins
