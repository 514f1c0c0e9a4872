"""The ``iron-cds`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from .config import Config, ConfigError


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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-auth", is_flag=True, help="Accept calls without a JWT. For local demos only.")
def serve(host: str, port: int, no_auth: bool) -> None:
    """Run the service under gunicorn."""
    if no_auth:
        os.environ["IRON_CDS_AUTH"] = "off"
        click.echo(
            "WARNING: --no-auth: JWT verification is OFF. Anyone who can reach this port can call the service. "
            "Use it only on your own machine.",
            err=True,
        )
    _config_or_exit()
    from .app import create_app

    _metrics_dir()
    create_app()  # fail here, with one line, rather than in every worker
    conf = os.path.join(os.path.dirname(__file__), "gunicorn_conf.py")
    argv = [sys.executable, "-m", "gunicorn", "-c", conf, "--bind", f"{host}:{port}", "cds_service.app:create_app()"]
    os.execv(sys.executable, argv)


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

    from .store import Store, one_line, redacted_url

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
        click.echo(f"{code:<26}{t['issued']:>8}{t['accepted']:>10}{t['overridden']:>12}{share:>12}")
        for reason, count in sorted(t["override_reasons"].items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"    overridden because {reason}: {count}")


@main.command("check-knowledge")
@click.option("--file", "override", default=None, help="Also validate this institutional override file.")
def check_knowledge(override: str | None) -> None:
    """Validate the knowledge and card data files."""
    from .knowledge.loader import KnowledgeError, load_knowledge

    try:
        knowledge = load_knowledge(override or os.environ.get("IRON_CDS_KNOWLEDGE"))
    except KnowledgeError as exc:
        click.echo(f"knowledge check FAILED:\n{exc}", err=True)
        sys.exit(1)
    click.echo(f"knowledge OK: {len(knowledge.products)} products, {len(knowledge.sources)} sources")


if __name__ == "__main__":  # pragma: no cover
    main()
