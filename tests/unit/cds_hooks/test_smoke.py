import pytest

from cds_service import LEGACY_SERVICE_ID
from support.hook_requests import HOOK_URL, hook_request, hook_url, medication_request


def test_discovery_lists_one_id_per_hook(client):
    # The CDS Hooks sandbox (and other clients) key services by id: one id for two hooks loses a hook.
    services = client.get("/cds-services").get_json()["services"]
    assert {s["hook"]: s["id"] for s in services} == {
        "order-select": "iv-iron-order-select", "order-sign": "iv-iron-order-sign"}
    assert LEGACY_SERVICE_ID not in {s["id"] for s in services}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_each_listed_id_answers_its_own_hook_with_the_same_checks(client, hook):
    body = hook_request(medication_request(minutes=5), hook=hook)
    own = client.post(hook_url(hook), json=body)
    legacy = client.post(HOOK_URL, json=body)
    assert own.status_code == legacy.status_code == 200
    topics = sorted(c["source"]["topic"]["code"] for c in own.get_json()["cards"])
    assert topics and topics == sorted(c["source"]["topic"]["code"] for c in legacy.get_json()["cards"])


@pytest.mark.parametrize("hook,other", [("order-select", "order-sign"), ("order-sign", "order-select")])
def test_a_listed_id_refuses_the_other_hook(client, hook, other):
    response = client.post(hook_url(hook), json=hook_request(medication_request(), hook=other))
    assert response.status_code == 400 and response.get_json()["field"] == "hook"


def test_feedback_is_taken_on_every_id_including_the_legacy_alias(client):
    for url in (hook_url("order-select"), hook_url("order-sign"), HOOK_URL):
        assert client.post(f"{url}/feedback", json={"feedback": []}).status_code != 404


def test_unknown_service_is_404_with_json(client):
    response = client.post("/cds-services/no-such-service", json=hook_request())
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_hook_call_answers_cards(client):
    response = client.post(HOOK_URL, json=hook_request())
    assert response.status_code == 200
    assert response.get_json()["cards"] == []
