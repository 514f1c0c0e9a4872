"""WSGI app factory: ``gunicorn 'cds_service.app:create_app()'``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from cds_service.cds_hooks import cors
from cds_service.cds_hooks.discovery import PrefetchKey, prefetch_keys, service_definitions
from cds_service.config import Config, ConfigError
from cds_service.knowledge.loader import KnowledgeError, load_knowledge
from cds_service.ops.logs import configure_logging
from cds_service.store import Store


@dataclass
class ServiceState:
    """Everything a request needs, built once per process."""

    config: Config
    knowledge: Any
    store: Store
    discovery: list[dict]
    prefetch: tuple[PrefetchKey, ...]
    extras: dict[str, Any] = field(default_factory=dict)   # e.g. the JWT verifier, the FHIR session


def create_app(config: Config | None = None) -> Flask:
    """Build the app. Without ``config``, read the environment; a bad setting exits with one line."""
    if config is None:
        try:
            config = Config.from_env()
            return _build(config)
        except (ConfigError, KnowledgeError) as exc:
            # gunicorn and the CLI both call us at start-up: one clear line, no traceback.
            sys.stderr.write(f"iron-cds: configuration error: {exc}\n")
            raise SystemExit(3) from None
    return _build(config)


def _build(config: Config) -> Flask:
    configure_logging(config.log_level)
    knowledge = load_knowledge(config.knowledge_path)
    app = Flask(__name__)
    # A path with "//" (a client that joined a base URL ending in "/" with "/{id}") is a JSON 404 that says so
    # (errors.py), not werkzeug's 308 redirect: an HTML body, a Location built from the Host header, a JWT
    # whose aud names the path first called, and a redirect that browsers refuse on a CORS preflight.
    # Set before any route is added: each rule takes the map's setting when it is bound.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    state = ServiceState(
        config=config,
        knowledge=knowledge,
        store=Store(config.database_url),
        discovery=service_definitions(knowledge),
        prefetch=prefetch_keys(knowledge),
    )
    app.extensions["iron_cds"] = state

    cors.init_app(app, config.cors_origins)

    from cds_service import console, handouts
    from cds_service.cds_hooks import errors, feedback, hooks, openapi
    from cds_service.cds_hooks.discovery import bp as discovery_bp
    from cds_service.ops import metrics
    from cds_service.trust import auth

    auth.init_app(app)
    app.register_blueprint(discovery_bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(openapi.bp)
    console.init_app(app)
    handouts.init_app(app)
    errors.register(app)
    return app
