"""The ``iron-cds`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import unicodedata

import click

from cds_service import HOOKS
from cds_service.config import Config, ConfigError


def _config_or_exit() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        click.echo(f"iron-cds: configuration error: {exc}", err=True)
        sys.exit(3)


@click.group()
def main() -> None:
    """iron-cds: CDS Hooks service for intravenous iron orders."""


@main.command()
@click.option("--host", help="[default: 127.0.0.1, or the host of IRON_CDS_BIND]")
@click.option("--port", type=int, help="[default: 8080, or the port of IRON_CDS_BIND]")
@click.option("--no-auth", is_flag=True, help="Accept calls without a JWT. For local demos only.")
def serve(host: str | None, port: int | None, no_auth: bool) -> None:
    """Run the service under gunicorn."""
    if no_auth:
        os.environ["IRON_CDS_AUTH"] = "off"
        click.echo(
            "WARNING: --no-auth: JWT verification is OFF. Anyone who can reach this port can call the service. "
            "Use it only on your own machine.",
            err=True,
        )
    _config_or_exit()
    from cds_service.app import create_app

    _metrics_dir()
    create_app()  # fail here, with one line, rather than in every worker
    conf = os.path.join(os.path.dirname(__file__), "ops", "gunicorn_conf.py")
    bind = serve_bind(host, port, os.environ.get("IRON_CDS_BIND"))
    argv = [sys.executable, "-m", "gunicorn", "-c", conf, "--bind", bind, "cds_service.app:create_app()"]
    os.execv(sys.executable, argv)


def serve_bind(host: str | None, port: int | None, configured: str | None) -> str:
    """Where ``serve`` listens: the options, else IRON_CDS_BIND (as the Docker image uses it), else
    127.0.0.1:8080 (on a developer's machine, not the whole network). An option replaces only its part."""
    default_host, default_port = "127.0.0.1", "8080"
    if configured and configured.strip():
        default_host, _, default_port = configured.strip().rpartition(":")
    return f"{host or default_host}:{port if port is not None else default_port}"


def _metrics_dir() -> None:
    """Give the workers a fresh folder to share Prometheus samples through."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="iron-cds-metrics-")


@main.command("feedback-report")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the contract's shape).")
def feedback_report(as_json: bool) -> None:
    """Accepted / overridden counts and override reasons per card topic."""
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.store import Store, one_line, redacted_url

    config = _config_or_exit()
    try:
        store = Store(config.database_url)
        report = store.feedback_report()
        store.dispose()
    except (ConfigError, SQLAlchemyError) as exc:
        click.echo(f"iron-cds: cannot read the feedback store: {one_line(exc)}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"Feedback report (store: {redacted_url(config.database_url)})")
    topics = report["topics"]
    if not topics:
        click.echo("No cards issued and no feedback received yet.")
        return
    click.echo(f"{'topic':<26}{'issued':>8}{'accepted':>10}{'overridden':>12}{'accepted %':>12}")
    for code in sorted(topics):
        t = topics[code]
        answered = t["accepted"] + t["overridden"]
        share = f"{100 * t['accepted'] / answered:.0f}%" if answered else "-"
        click.echo(f"{printable(code):<26}{t['issued']:>8}{t['accepted']:>10}{t['overridden']:>12}{share:>12}")
        for reason, count in sorted(t["override_reasons"].items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"    overridden because {printable(reason)}: {count}")


@main.command("check-knowledge")
@click.option("--file", "override", default=None,
              help="Also validate this institutional override file (default: IRON_CDS_KNOWLEDGE).")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Validate the cards files in this directory (e.g. a pharmacist's working copy) "
                   "instead of the installed ones.")
def check_knowledge(override: str | None, directory: str | None) -> None:
    """Validate the knowledge and card data files; exit 1 listing every problem."""
    from pathlib import Path

    from cds_service.knowledge.report import check_knowledge as run_check

    override = override or os.environ.get("IRON_CDS_KNOWLEDGE") or None
    report = run_check(override, Path(directory) if directory else None)
    if not report.ok:
        click.echo(report.heading, err=True)
        for line in report.problems:
            click.echo(f"  {line}", err=True)
        sys.exit(1)
    click.echo(report.heading)
    for line in report.warnings:   # unsigned files: said, but not a failure (exit 0)
        click.echo(f"warning: {line}", err=True)
    if override:
        click.echo(f"override applied: {override}")


def printable(text: str) -> str:
    """Client-sent text as a terminal may show it: control and format characters (escape sequences,
    bidirectional overrides) written out as \\x1b / \\u202e instead of acting on the operator's terminal."""
    return "".join(ch if ch.isprintable() and unicodedata.category(ch) != "Cf" else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _stderr_logger(name: str) -> None:
    """Plain one-line warnings on stderr for the EHR-side commands (stdout stays for results)."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("iron-cds: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@main.command()
@click.option("--order", "order", required=True, type=click.Path(dir_okay=False),
              help="Draft order: a MedicationRequest or a Bundle of orders (JSON).")
@click.option("--patient-bundle", type=click.Path(dir_okay=False), help="The patient's data as a FHIR Bundle file.")
@click.option("--fhir-server", metavar="URL", help="FHIR base URL to read the patient's data from (with --patient).")
@click.option("--patient", metavar="ID",
              help="Patient id on the FHIR server (or in a bundle holding several patients).")
@click.option("--bearer-token", metavar="TOKEN",
              help="Access token for the FHIR server; also passed to the service as fhirAuthorization.")
@click.option("--hook", type=click.Choice(HOOKS), default="order-sign", show_default=True)
@click.option("--service", metavar="URL",
              help="Call this service over HTTP (base URL or …/cds-services/ID) instead of in-process.")
@click.option("--sign-key", type=click.Path(dir_okay=False),
              help="Private key (PEM or JWK) to sign the CDS client JWT.")
@click.option("--issuer", metavar="ISS", help="The JWT's iss (a trusted issuer of the service); needs --sign-key.")
@click.option("--jku", metavar="URL", help="Put this JWKS URL in the JWT header (as Epic does).")
@click.option("--user", metavar="REF", default="Practitioner/iron-cds-fire", show_default=True, help="context.userId")
@click.option("--encounter", metavar="ID", help="context.encounterId")
@click.option("--prefetch", metavar="KEYS", default="all", show_default=True,
              help="Which prefetch keys to resolve and send: all, none, or a comma-separated list "
                   "(the service reads the rest).")
@click.option("--json", "as_json", is_flag=True, help="Print only the raw CDS Hooks response JSON on stdout.")
def fire(as_json: bool, **kwargs) -> None:
    """Act as the EHR: send a draft order to the service and show the cards."""
    from cds_service.ehr.card_text import render_response
    from cds_service.ehr.fire import FireError, FireOptions
    from cds_service.ehr.fire import fire as fire_hook

    _stderr_logger("iron_cds.fire")
    try:
        response = fire_hook(FireOptions(**kwargs))
    except FireError as exc:
        click.echo(f"iron-cds fire: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(response, indent=2))
    else:
        click.echo(render_response(response, width=100), nl=False)


@main.command("load-fixtures")
@click.option("--fhir-server", metavar="URL", required=True, help="FHIR base URL to upload to.")
@click.option("--bearer-token", metavar="TOKEN", help="Access token for the FHIR server.")
@click.option("--only", metavar="NAME", help="Load only this fixture patient (file name without .json).")
def load_fixtures(fhir_server: str, bearer_token: str | None, only: str | None) -> None:
    """Upload the synthetic patients in fhir_fixtures/patients/ (transaction Bundles)."""
    from cds_service.ehr.fixtures import LoadError
    from cds_service.ehr.fixtures import load_fixtures as load

    try:
        loaded = load(fhir_server, bearer_token=bearer_token, only=only)
    except LoadError as exc:
        click.echo(f"iron-cds load-fixtures: {exc}", err=True)
        sys.exit(1)
    for item in loaded:
        who = ", ".join(f"Patient/{pid}" for pid in item.patient_ids) or "no Patient"
        click.echo(f"loaded {item.name}: {item.resources} resources ({who})")
    click.echo(f"{len(loaded)} fixture patient(s) loaded into {fhir_server.rstrip('/')}")


if __name__ == "__main__":  # pragma: no cover
    main()
