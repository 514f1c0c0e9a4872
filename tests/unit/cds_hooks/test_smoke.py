from support.hook_requests import HOOK_URL, hook_request


def test_discovery_lists_one_service_for_both_order_hooks(client):
    services = client.get("/cds-services").get_json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign"}
    assert len({s["id"] for s in services}) == 1


def test_unknown_service_is_404_with_json(client):
    response = client.post("/cds-services/no-such-service", json=hook_request())
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_hook_call_answers_cards(client):
    response = client.post(HOOK_URL, json=hook_request())
    assert response.status_code == 200
    assert response.get_json()["cards"] == []
