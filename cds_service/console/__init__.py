"""A read-only web console for the governance committee, under ``/console``.

Overview, card preview (the real engine on fixtures or pasted data), knowledge
browser (every limit with its source and status) and feedback charts. Enabled
only when ``IRON_CDS_CONSOLE_TOKEN`` is set.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for

from cds_service import HOOKS
from cds_service.console import access, feedback_stats, preview, provenance
from cds_service.handouts import content as handout_content
from cds_service.handouts import handout_path
from cds_service.knowledge.report import check_knowledge

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

PUBLIC_ENDPOINTS = {"console.login", "console.static"}


def init_app(app: Flask) -> None:
    state = app.extensions["iron_cds"]
    access.init_app(app, state.config.console_token, state.store)
    app.register_blueprint(bp)


def _state():
    return current_app.extensions["iron_cds"]


@bp.before_request
def _guard():
    if not access.configured_token():
        return render_template("disabled.html"), 503
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    wait = access.wait_before_trying() if request.headers.get("Authorization") else None
    if wait is not None:
        return access.too_many_tries(wait)
    if not access.is_allowed():
        return access.refuse()
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    # No script runs anywhere in the console; say so to the browser.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        wait = access.wait_before_trying()
        if wait is not None:   # refused before the token is even compared
            return render_template("login.html", error=f"Too many failed tries: wait {wait} s."), 429, \
                {"Retry-After": str(wait)}
        if access.token_matches(request.form.get("token")):
            access.log_in()
            return redirect(access.safe_next(request.args.get("next")))
        access.delays().failed(access.client_key())
        error = "That token is not right."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    access.log_out()
    return redirect(url_for("console.login"))


@bp.get("")
@bp.get("/")
def overview():
    state = _state()
    issued, answered = state.store.card_counts()
    knowledge = state.knowledge
    return render_template(
        "overview.html",
        config=state.config,
        knowledge=knowledge,
        issued=issued,
        answered=answered,
        services=state.discovery,
        auth_warnings=_auth_warnings(state.config),
    )


def _auth_warnings(config) -> list[str]:
    warnings = []
    if config.auth == "off":
        warnings.append("JWT verification is off: any caller can reach the hook endpoint.")
    elif not config.trusted_issuers:
        warnings.append("No trusted issuer is configured: every hook call is refused.")
    if "*" in config.cors_origins:
        warnings.append("CORS allows any origin ('*'); list your EHR origins in IRON_CDS_CORS_ORIGINS for production.")
    return warnings


@bp.route("/preview", methods=["GET", "POST"])
def preview_page():
    state = _state()
    scenarios = preview.scenarios()
    chosen = request.values.get("scenario", "")
    hook = request.values.get("hook", "order-sign")
    if hook not in HOOKS:
        hook = "order-sign"
    patient_text = request.form.get("patient_bundle", "")
    order_text = request.form.get("order", "")
    response, error = None, None
    if request.method == "POST" or chosen:
        try:
            if chosen and not (patient_text.strip() or order_text.strip()):
                scenario = next((s for s in scenarios if s.name == chosen), None)
                if scenario is None:
                    raise preview.PreviewError(f"There is no fixture scenario named {chosen!r}.")
                patient_text = scenario.patient_file.read_text(encoding="utf-8")
                order_text = scenario.order_file.read_text(encoding="utf-8")
                if "hook" not in request.values:
                    hook = scenario.hook
            patient_bundle = preview.parse_json(patient_text, "patient Bundle")
            order = preview.parse_json(order_text, "draft order")
            response = preview.run(state, patient_bundle, order, hook)
        except preview.PreviewError as exc:
            error = str(exc)
    links = preview.knowledge_links(state.knowledge)
    cards = [dict(card, detail_html=preview.render_markdown(card.get("detail", ""), links))
             for card in (response or {}).get("cards", [])]
    return render_template(
        "preview.html",
        scenarios=scenarios,
        chosen=chosen,
        hook=hook,
        patient_text=patient_text,
        order_text=order_text,
        cards=cards,
        ran=response is not None,
        error=error,
        to_json=lambda value: json.dumps(value, indent=2),
        handouts=_handout_links(state.knowledge),
    ), (400 if error else 200)


def _handout_links(knowledge) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every product's patient handout in every language, for the committee to review next to the cards."""
    names = handout_content.languages(knowledge)
    return [(product.display, [(name, handout_path(key, code)) for code, name in names.items()])
            for key, product in knowledge.products.items()]


@bp.get("/knowledge")
def knowledge_page():
    state = _state()
    # The files as they are on disk now (the running service keeps what it loaded at start), checked
    # exactly as `iron-cds check-knowledge` checks them.
    report = check_knowledge(state.config.knowledge_path)
    return render_template("knowledge.html", knowledge=state.knowledge, jurisdiction=state.config.jurisdiction,
                           report=report, caveats=provenance.caveats(state.knowledge, state.config.jurisdiction))


@bp.get("/feedback")
def feedback_page():
    start, end, error = _date_range()
    stats = feedback_stats.collect(_state().store, start, end)
    if request.args.get("format") == "csv":
        return Response(feedback_stats.to_csv(stats), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=iron-cds-feedback-{start}-{end}.csv"})
    charts = {topic: feedback_stats.svg_chart(entry, start, end) for topic, entry in stats.items()}
    return render_template("feedback.html", stats=stats, charts=charts, start=start, end=end,
                           error=error), (400 if error else 200)


def _date_range() -> tuple[date, date, str | None]:
    today = datetime.now(timezone.utc).date()
    default = (today - timedelta(days=29), today)
    try:
        start = date.fromisoformat(request.args["from"]) if request.args.get("from") else default[0]
        end = date.fromisoformat(request.args["to"]) if request.args.get("to") else default[1]
    except ValueError:
        return default[0], default[1], "Dates must be written YYYY-MM-DD; showing the last 30 days."
    if end < start:
        return default[0], default[1], "The end date is before the start date; showing the last 30 days."
    if (end - start).days > 366:
        return end - timedelta(days=366), end, "At most one year is shown at a time."
    return start, end, None
