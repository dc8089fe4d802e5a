# SPDX-License-Identifier: MIT
# Example job files and the fully commented reference, installed in
# $(pkgdatadir) so users can copy them.
dist_pkgdata_DATA += \
	%reldir%/mproc.ini \
	%reldir%/echo.ini \
	%reldir%/wordcount.ini \
	%reldir%/primes.ini \
	%reldir%/exec.ini \
	%reldir%/fault.ini \
	%reldir%/histogram.ini \
	%reldir%/mgrcount.ini
textsdir = $(pkgdatadir)/texts
dist_texts_DATA = \
	%reldir%/texts/lines.txt \
	%reldir%/texts/harbour.txt \
	%reldir%/texts/unix.txt \
	%reldir%/texts/c.txt
# The texts cannot hold a comment: their licence is in a REUSE sidecar.
EXTRA_DIST += \
	%reldir%/texts/lines.txt.license \
	%reldir%/texts/harbour.txt.license \
	%reldir%/texts/unix.txt.license \
	%reldir%/texts/c.txt.license
