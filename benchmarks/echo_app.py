"""The floor we compare against: a bare Flask endpoint that parses the same
payload and answers, served under the same gunicorn settings."""

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/cds-services/<service_id>")
    def echo(service_id):
        body = request.get_json()
        return jsonify({"cards": [], "hook": body.get("hook")})

    @app.get("/cds-services")
    def discovery():
        return jsonify({"services": []})

    return app
