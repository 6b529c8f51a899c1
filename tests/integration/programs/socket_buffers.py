"""Sandbox test program: queue as much kernel memory as possible in socket buffers (trust item 8).

Opens socket pairs until a limit stops it, fills each send buffer, holds everything for a moment
and prints how many pairs it made and how many bytes it queued.
"""

import socket
import time

pairs, queued = [], 0
try:
    while len(pairs) < 20_000:
        a, b = socket.socketpair()
        a.setblocking(False)
        pairs.append((a, b))
        chunk = b"x" * 65536
        while True:
            try:
                queued += a.send(chunk)
            except BlockingIOError:
                break
except OSError as e:
    print("stopped:", type(e).__name__, e.errno)
print("pairs", len(pairs), "queued", queued, flush=True)
time.sleep(2.0)
