"""/metrics: the names and label sets operators rely on, and no patient data in labels."""

import re

from prometheus_client import REGISTRY

from cds_service.ops import metrics
from support.hook_requests import HOOK_URL, hook_request, medication_request

EXPECTED = {
    "iron_cds_hook_duration_seconds": {"hook"},
    "iron_cds_cards_issued_total": {"topic", "indicator"},
    "iron_cds_fhir_read_duration_seconds": {"key"},
    "iron_cds_fhir_read_failures_total": {"key", "reason"},
    "iron_cds_feedback_total": {"topic", "outcome"},
    "iron_cds_jwt_failures_total": {"reason"},
}


def _labels_by_metric(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^(iron_cds_[a-z_]+?)(?:_bucket|_count|_sum|_created)?\{(.*)\} ", line)
        if m:
            names = {pair.split("=", 1)[0] for pair in re.findall(r'[a-z_]+="[^"]*"', m.group(2))}
            found.setdefault(m.group(1), set()).update(names - {"le"})
    return found


def _sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_hook_call_is_counted_by_hook(client):
    before = _sample("iron_cds_hook_duration_seconds_count", hook="order-sign")
    assert client.post(HOOK_URL, json=hook_request(medication_request())).status_code == 200
    assert _sample("iron_cds_hook_duration_seconds_count", hook="order-sign") == before + 1


def test_metrics_endpoint_exposes_every_metric_with_its_label_set(client):
    metrics.observe_hook("order-select", 0.01, [{"indicator": "warning", "source": {"topic": {"code": "dose-limit"}}}])
    metrics.observe_fhir_read("labs", 0.02, "timeout after 3s")
    metrics.count_feedback("dose-limit", "overridden")
    metrics.count_jwt_failure("expired")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    labels = _labels_by_metric(response.get_data(as_text=True))
    for name, expected in EXPECTED.items():
        assert labels.get(name) == expected, name


def test_free_text_never_becomes_a_label_value(client):
    patient_id = "patient-8c1f-secret"
    metrics.observe_fhir_read(f"medication:{patient_id}", 0.01, f"HTTP 500 for Patient/{patient_id}")
    metrics.observe_hook(patient_id, 0.01, [{"indicator": patient_id, "source": {"topic": {"code": patient_id}}}])
    metrics.count_feedback(patient_id, patient_id)
    metrics.count_jwt_failure(f"bad iss {patient_id}")
    text = client.get("/metrics").get_data(as_text=True)
    assert patient_id not in text
    assert _sample("iron_cds_fhir_read_failures_total", key="medication", reason="error") >= 1
    assert _sample("iron_cds_jwt_failures_total", reason="error") >= 1
