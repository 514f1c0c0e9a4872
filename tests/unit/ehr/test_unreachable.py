"""why_unreachable: the few words fire and load-fixtures put after "cannot reach <server>"."""

from __future__ import annotations

import pytest
import requests

from cds_service.ehr.unreachable import why_unreachable


@pytest.mark.parametrize("text, reason", [
    ("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Caused by NewConnectionError("
     "'Failed to establish a new connection: [Errno 111] Connection refused'))", "connection refused"),
    ("HTTPSConnectionPool(host='nowhere.invalid', port=443): Max retries exceeded (Caused by NameResolutionError("
     "\"Failed to resolve 'nowhere.invalid' ([Errno -2] Name or service not known)\"))", "host not found"),
    ("first line\nsecond line", "first line"),
    ("x" * 300, "x" * 160),
])
def test_a_long_requests_message_becomes_a_few_words(text, reason):
    assert why_unreachable(requests.ConnectionError(text)) == reason


def test_an_exception_without_text_is_named_by_its_type():
    assert why_unreachable(requests.ConnectionError()) == "ConnectionError"
