# SPDX-License-Identifier: MIT
"""Python's multiprocessing.connection, measured for bench-conn in the
same run.

Prints, medians of 3:
  pingpong_unix RT_PER_S     64-byte send_bytes/recv_bytes round trips
  pingpong_tcp RT_PER_S
  connect_unix CONN_PER_S    Client() with an authkey, accepted, closed
"""
import os
import statistics
import sys
import tempfile
import time
from multiprocessing import Process
from multiprocessing.connection import Client, Listener

KEY = b"bench authkey"
DUR = 0.5


def echo_server(listener, n_conns):
    for _ in range(n_conns):
        c = listener.accept()
        try:
            while True:
                c.send_bytes(c.recv_bytes())
        except EOFError:
            pass
        c.close()


def pingpong(family, address):
    rates = []
    with Listener(address, family=family, authkey=KEY) as listener:
        server = Process(target=echo_server, args=(listener, 3))
        server.start()
        for _ in range(3):
            c = Client(listener.address, family=family, authkey=KEY)
            msg, n = b"x" * 64, 0
            start = time.perf_counter()
            while time.perf_counter() - start < DUR:
                for _ in range(100):
                    c.send_bytes(msg)
                    c.recv_bytes()
                n += 100
            rates.append(n / (time.perf_counter() - start))
            c.close()
        server.join()
    return statistics.median(rates)


def accept_loop(listener):
    while True:
        c = listener.accept()
        if c.recv_bytes() == b"stop":
            c.close()
            return
        c.close()


def connects(address):
    rates = []
    with Listener(address, family="AF_UNIX", authkey=KEY) as listener:
        server = Process(target=accept_loop, args=(listener,))
        server.start()
        for _ in range(3):
            n = 0
            start = time.perf_counter()
            while time.perf_counter() - start < DUR:
                c = Client(listener.address, family="AF_UNIX", authkey=KEY)
                c.send_bytes(b"go")
                c.close()
                n += 1
            rates.append(n / (time.perf_counter() - start))
        c = Client(listener.address, family="AF_UNIX", authkey=KEY)
        c.send_bytes(b"stop")
        c.close()
        server.join()
    return statistics.median(rates)


def main():
    d = tempfile.mkdtemp()
    try:
        print("pingpong_unix %.0f" % pingpong("AF_UNIX", os.path.join(d, "p.sock")))
        print("pingpong_tcp %.0f" % pingpong("AF_INET", ("127.0.0.1", 0)))
        print("connect_unix %.0f" % connects(os.path.join(d, "c.sock")))
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
