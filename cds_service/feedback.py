"""``POST /cds-services/{id}/feedback`` (placeholder)."""

from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("feedback", __name__)
