"""Sandbox test program: look for what ipc_plant.py left (trust item 6); prints FOUND [...]."""

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
found = []
q = libc.mq_open(b"/assayleak", os.O_RDONLY | os.O_NONBLOCK, 0, None)
if q >= 0:
    found.append("mq")
if libc.shmget(0x5EC, 0, 0) >= 0:
    found.append("shm")
if libc.msgget(0x5ED, 0) >= 0:
    found.append("msg")
if libc.semget(0x5EE, 0, 0) >= 0:
    found.append("sem")
SYS_request_key = {"x86_64": 249, "aarch64": 218}[os.uname().machine]
for name in ("user", "session"):
    if libc.syscall(SYS_request_key, b"user", b"assayleak" + name.encode(), None, 0) >= 0:
        found.append("key-" + name)
print("FOUND", found)
