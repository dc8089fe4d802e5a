# The process module (Process objects, start methods): adds its sources to
# the core library and its programs here.  Included from framework/local.mk.
