"""Sandbox test program: plant data in every channel that outlives a process (trust item 6)."""

import ctypes
import ctypes.util
import os

libc = ctypes.CDLL(None, use_errno=True)
out = []
# POSIX message queue
libc.mq_open.restype = ctypes.c_int
q = libc.mq_open(b"/assayleak", os.O_CREAT | os.O_RDWR, 0o666, None)
out.append(("mq", q >= 0, ctypes.get_errno()))
if q >= 0:
    libc.mq_send(q, b"SECRET", 6, 0)
# SysV shm
libc.shmget.restype = ctypes.c_int
sid = libc.shmget(0x5EC, 4096, 0o1000 | 0o666)
out.append(("shm", sid >= 0, ctypes.get_errno()))
if sid >= 0:
    libc.shmat.restype = ctypes.c_void_p
    addr = libc.shmat(sid, None, 0)
    ctypes.memmove(addr, b"SECRET", 6)
# SysV msg
mid = libc.msgget(0x5ED, 0o1000 | 0o666)
out.append(("msg", mid >= 0, ctypes.get_errno()))
if mid >= 0:

    class M(ctypes.Structure):
        _fields_ = [("t", ctypes.c_long), ("b", ctypes.c_char * 8)]

    libc.msgsnd(mid, ctypes.byref(M(1, b"SECRET")), 8, 0)
# SysV sem
sem = libc.semget(0x5EE, 1, 0o1000 | 0o666)
out.append(("sem", sem >= 0, ctypes.get_errno()))
# keyrings: add_key(type, desc, payload, plen, ring)
SYS_add_key = {"x86_64": 248, "aarch64": 217}[os.uname().machine]
for ring, name in ((-4, "user"), (-3, "session")):
    k = libc.syscall(SYS_add_key, b"user", b"assayleak" + name.encode(), b"SECRET", 6, ring)
    out.append(("key-" + name, k >= 0, ctypes.get_errno()))
print(out)
