"""The printable patient handout: ``GET /handouts/iv-iron?product=<key>&lang=<code>``.

Generic for the product (no patient data in the URL or the page), server-rendered, no script, the same
Content-Security-Policy as the console. The observation-period card links here (see cds_hooks/cards.py).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, render_template, request

from cds_service.handouts.content import HandoutUnavailable, build_handout, default_language, languages

bp = Blueprint("handouts", __name__, url_prefix="/handouts", template_folder="templates", static_folder="static")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/iv-iron")
def iv_iron():
    state = current_app.extensions["iron_cds"]
    knowledge = state.knowledge
    product = request.args.get("product", "")
    language = request.args.get("lang") or default_language(knowledge)
    try:
        handout = build_handout(knowledge, product, language, state.config.jurisdiction)
    except HandoutUnavailable as exc:
        return render_template("handout_missing.html", message=str(exc), languages=languages(knowledge)), 404
    return render_template("handout.html", handout=handout, languages=languages(knowledge))


def handout_path(product_key: str, language: str) -> str:
    """The handout's path (no host): callers add the public base URL."""
    return f"/handouts/iv-iron?product={product_key}&lang={language}"
