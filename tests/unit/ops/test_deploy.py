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


def test_compose_publishes_only_the_buffering_proxy():
    """gthread workers have no header-read deadline: slow clients must wait in nginx, not in gunicorn."""
    services = _docs("deploy/docker-compose.yml")[0]["services"]
    assert "ports" not in services["iron-cds"], "the service port must not be reachable from outside"
    assert services["iron-cds"]["expose"] == ["8080"]
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["proxy"] and services["proxy"]["image"].startswith("nginx:")
    mount = next(v for v in services["proxy"]["volumes"] if v.startswith("./nginx/iron-cds.conf:"))
    assert mount.endswith(":/etc/nginx/conf.d/default.conf:ro")


def _nginx_directives(path):
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / path).read_text().splitlines()]
    return {line.rstrip(";").split(None, 1)[0]: line.rstrip(";").split(None, 1)[-1]
            for line in lines if line.endswith(";")}   # directives, not the blocks around them


def test_nginx_reads_whole_requests_within_deadlines_before_gunicorn_sees_them():
    conf = _nginx_directives("deploy/nginx/iron-cds.conf")
    assert conf["client_header_timeout"] == "10s" and conf["client_body_timeout"] == "10s"
    assert conf["proxy_request_buffering"] == "on"
    assert conf["client_max_body_size"] == "2m"          # = the service's own body limit (Config.max_body_bytes)
    assert conf["proxy_pass"] == "http://iron_cds" and conf["server"] == "iron-cds:8080"


def test_kubernetes_service_is_cluster_internal_behind_a_buffering_ingress():
    service = _docs("deploy/kubernetes/service.yaml")[0]
    assert service["spec"]["type"] == "ClusterIP"
    ingress = _docs("deploy/kubernetes/ingress.yaml")[0]
    assert ingress["kind"] == "Ingress"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    backends = [p["backend"]["service"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert backends == [{"name": service["metadata"]["name"], "port": {"name": "http"}}]
    assert ingress["spec"]["tls"], "TLS ends at the ingress"


def test_gunicorn_settings_do_not_claim_a_header_deadline_the_server_lacks():
    """gunicorn has no header-read timeout setting (checked against the installed version's settings)."""
    from gunicorn.config import KNOWN_SETTINGS

    names = {setting.name for setting in KNOWN_SETTINGS}
    assert not {name for name in names if "header" in name and "timeout" in name}
    text = (ROOT / "cds_service" / "ops" / "gunicorn_conf.py").read_text()
    assert "No header-read deadline" in text and "buffering proxy" in text


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
