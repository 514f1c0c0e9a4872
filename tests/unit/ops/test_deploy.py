"""The deployment files say what operators rely on (read, since docker cannot run here)."""

import runpy

import yaml

from support.paths import ROOT


def _docs(path):
    return [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]


def test_gunicorn_settings_are_production_ready():
    conf = runpy.run_path(str(ROOT / "cds_service" / "ops" / "gunicorn_conf.py"))
    assert conf["workers"] >= 2 and conf["threads"] >= 1
    assert conf["worker_class"] == "gthread"
    assert conf["graceful_timeout"] > 0
    assert conf["timeout"] < 30, "a stuck worker must be recycled long before EHR patience runs out twice"
    assert callable(conf["child_exit"])


def test_dockerfile_runs_gunicorn_as_non_root_with_a_discovery_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER iron" in text
    healthcheck = next(
        line for line in text.splitlines() if line.startswith("HEALTHCHECK")) + text.split("HEALTHCHECK", 1)[1]
    assert "/cds-services" in healthcheck
    assert 'CMD ["gunicorn", "--config", "python:cds_service.ops.gunicorn_conf"' in text


def test_kubernetes_deployment_probes_discovery_and_reads_secrets():
    deployment = _docs("deploy/kubernetes/deployment.yaml")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/cds-services"
    assert container["livenessProbe"]["httpGet"]["path"] == "/cds-services"
    secret = _docs("deploy/kubernetes/secret.yaml")[0]
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert refs == {"database-url", "trusted-issuers"} <= set(secret["stringData"])
    hpa = _docs("deploy/kubernetes/hpa.yaml")[0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_compose_runs_replicas_on_postgresql():
    compose = _docs("deploy/docker-compose.yml")[0]
    service = compose["services"]["iron-cds"]
    assert service["environment"]["IRON_CDS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert service["deploy"]["replicas"] >= 2
    assert "db" in service["depends_on"]


def test_every_template_and_stylesheet_is_packaged():
    # A non-editable install (the Dockerfile's `pip install .`) carries only what package_data names.
    import configparser
    from fnmatch import fnmatch

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["cds_service"].split(",")]
    package = ROOT / "cds_service"
    files = [p.relative_to(package).as_posix() for p in package.rglob("*")
             if p.is_file() and p.suffix in (".html", ".css")]
    assert files
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []
