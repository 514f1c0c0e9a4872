"""Card and suggestion uuids: RFC 4122 version 4, never repeated, not shared by forked workers."""

import re
import uuid

from cds_service import ids

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuids_are_version_4_text_and_unique_across_refills():
    made = [ids.uuid4() for _ in range(1000)]            # about four refills of the buffer
    assert all(UUID4.match(u) for u in made)
    assert all(uuid.UUID(u).version == 4 and uuid.UUID(u).variant == uuid.RFC_4122 for u in made[:20])
    assert len(set(made)) == len(made)


def test_a_forked_process_does_not_reuse_the_parents_bytes(monkeypatch):
    ids.uuid4()
    parent_next = bytes(ids._buffer[ids._offset:ids._offset + 16])
    monkeypatch.setattr(ids.os, "getpid", lambda: -12345)  # as a gunicorn worker after the fork sees it
    child_first = ids.uuid4()
    assert ids._pid == -12345 and ids._offset == 16
    expected_if_shared = bytearray(parent_next)
    expected_if_shared[6] = (expected_if_shared[6] & 0x0F) | 0x40
    expected_if_shared[8] = (expected_if_shared[8] & 0x3F) | 0x80
    assert child_first.replace("-", "") != expected_if_shared.hex()
