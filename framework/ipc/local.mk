# The IPC module (channel backends, Queue, Pipe): adds its sources to the
# core library here.  Included from framework/local.mk.
