"""Random (version 4) UUIDs for cards, suggestions and the resources they create, cheaply.

``uuid.uuid4()`` asks the kernel for 16 bytes each time: a system call per card, per suggestion and
per created resource (five to ten per hook call), which costs tens of microseconds each on a busy
machine. Here the same kernel randomness (``os.urandom``) is fetched 4 KiB at a time and cut into
UUIDs. The buffer belongs to one process: after a fork (gunicorn workers) it is refilled, so two
workers never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 4096                    # 256 UUIDs per system call
_lock = threading.Lock()
_buffer = b""
_offset = 0
_pid = -1


def uuid4() -> str:
    """A random UUID (RFC 4122 version 4) as text, like ``str(uuid.uuid4())``."""
    global _buffer, _offset, _pid
    with _lock:
        if _offset >= len(_buffer) or _pid != os.getpid():
            _buffer, _offset, _pid = os.urandom(_CHUNK), 0, os.getpid()
        raw = bytearray(_buffer[_offset:_offset + 16])
        _offset += 16
    raw[6] = (raw[6] & 0x0F) | 0x40     # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80     # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
