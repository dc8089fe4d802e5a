# SPDX-License-Identifier: MIT
# The man pages are templates (PAGE.in): every path they name comes from
# configure (@plugindir@, @pkglibdir@, @pkgdatadir@, @sysconfdir@,
# @prefix@), so an install with any --prefix documents where its files are;
# the plugin ABI (@PLUGIN_ABI_MAJOR@, @PLUGIN_ABI_MINOR@) comes from
# <mproc/plugin.h>.
# make substitutes them (not config.status) because configure leaves
# ${prefix} unexpanded in those variables.
mproc_man3 = \
	%reldir%/mproc-plugin.3 \
	%reldir%/mproc-pool.3 \
	%reldir%/mproc-process.3 \
	%reldir%/mproc-queue.3 \
	%reldir%/mproc-sync.3 \
	%reldir%/mproc-shared.3 \
	%reldir%/mproc-config.3 \
	%reldir%/mproc-error.3 \
	%reldir%/mproc-connection.3
mproc_man_pages = \
	%reldir%/mproc.1 \
	%reldir%/mproc.ini.5 \
	%reldir%/mproc-plugins.7 \
	$(mproc_man3)
man_MANS = $(mproc_man_pages)
CLEANFILES += $(mproc_man_pages)
EXTRA_DIST += %reldir%/so-links.sh \
	%reldir%/mproc.1.in \
	%reldir%/mproc.ini.5.in \
	%reldir%/mproc-plugins.7.in \
	%reldir%/mproc-plugin.3.in \
	%reldir%/mproc-pool.3.in \
	%reldir%/mproc-process.3.in \
	%reldir%/mproc-queue.3.in \
	%reldir%/mproc-sync.3.in \
	%reldir%/mproc-shared.3.in \
	%reldir%/mproc-config.3.in \
	%reldir%/mproc-error.3.in \
	%reldir%/mproc-connection.3.in

mproc_man_edit = sed \
	-e 's|@plugindir[@]|$(plugindir)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' \
	-e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@prefix[@]|$(prefix)|g' \
	-e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g'

# One recipe for every page; each page also depends on its template.
# The plugin ABI the host speaks comes from the header, so that
# mproc-plugin(3) cannot fall behind it.
$(mproc_man_pages): Makefile $(top_srcdir)/include/mproc/plugin.h
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	abi() { sed -n "s/^.define MPROC_PLUGIN_ABI_$$1  *\([0-9]*\).*/\1/p" \
	    $(top_srcdir)/include/mproc/plugin.h; } && \
	$(mproc_man_edit) -e "s|@PLUGIN_ABI_MAJOR[@]|`abi MAJOR`|g" \
	    -e "s|@PLUGIN_ABI_MINOR[@]|`abi MINOR`|g" \
	    $(srcdir)/$@.in >$@.tmp && mv $@.tmp $@
%reldir%/mproc.1: %reldir%/mproc.1.in
%reldir%/mproc.ini.5: %reldir%/mproc.ini.5.in
%reldir%/mproc-plugins.7: %reldir%/mproc-plugins.7.in
%reldir%/mproc-plugin.3: %reldir%/mproc-plugin.3.in
%reldir%/mproc-pool.3: %reldir%/mproc-pool.3.in
%reldir%/mproc-process.3: %reldir%/mproc-process.3.in
%reldir%/mproc-queue.3: %reldir%/mproc-queue.3.in
%reldir%/mproc-sync.3: %reldir%/mproc-sync.3.in
%reldir%/mproc-shared.3: %reldir%/mproc-shared.3.in
%reldir%/mproc-config.3: %reldir%/mproc-config.3.in
%reldir%/mproc-error.3: %reldir%/mproc-error.3.in
%reldir%/mproc-connection.3: %reldir%/mproc-connection.3.in

# `man mproc_apool_new` finds mproc-pool(3): a link page per function of a
# SYNOPSIS, holding ".so man3/PAGE" (as glibc's pages do; Debian's
# dh_installman turns them into symlinks).  Made at install, from the
# pages, by so-links.sh; uninstall removes the same list.
install-data-hook: install-man-links
uninstall-hook: uninstall-man-links
install-man-links: $(mproc_man3)
	@$(NORMAL_INSTALL)
	$(MKDIR_P) '$(DESTDIR)$(man3dir)'
	$(SHELL) $(srcdir)/%reldir%/so-links.sh $(mproc_man3) | \
	while read fn page; do \
	    echo ".so man3/$$page" >'$(DESTDIR)$(man3dir)/'"$$fn.3" || exit 1; \
	done
uninstall-man-links: $(mproc_man3)
	@$(NORMAL_UNINSTALL)
	$(SHELL) $(srcdir)/%reldir%/so-links.sh $(mproc_man3) | \
	while read fn page; do \
	    rm -f '$(DESTDIR)$(man3dir)/'"$$fn.3"; \
	done
.PHONY: install-man-links uninstall-man-links

# mproc-manager(3) (mgr16).
mproc_man3 += %reldir%/mproc-manager.3
EXTRA_DIST += %reldir%/mproc-manager.3.in
%reldir%/mproc-manager.3: %reldir%/mproc-manager.3.in
