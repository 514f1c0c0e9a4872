"""Configuration comes only from the environment; a bad value stops start-up with one clear line."""

import subprocess
import sys

import pytest

from cds_service.config import Config, ConfigError


def test_defaults_match_the_contract():
    config = Config.from_env({})
    assert config.auth == "jwt"
    assert config.trusted_issuers == {}
    assert config.database_url == "sqlite:///iron-cds.db"
    assert config.fhir_timeout == 3.0
    assert config.cors_origins == ("*",)
    assert config.protect_discovery is False
    assert config.knowledge_path is None
    assert config.jurisdiction == "US"


def test_every_contract_variable_is_read(tmp_path):
    override = tmp_path / "hospital.yaml"
    override.write_text("protocol: {}\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    config = Config.from_env({
        "IRON_CDS_AUTH": "off",
        "IRON_CDS_TRUSTED_ISSUERS": f'{{"https://ehr.example": {{"jwks_file": "{jwks}", "fhir_servers": ["https://fhir.example/R4/"]}}}}',
        "IRON_CDS_DATABASE_URL": "postgresql+psycopg://u@db/x",
        "IRON_CDS_FHIR_TIMEOUT": "1.5",
        "IRON_CDS_CORS_ORIGINS": "https://a.example, https://b.example",
        "IRON_CDS_PROTECT_DISCOVERY": "1",
        "IRON_CDS_KNOWLEDGE": str(override),
        "IRON_CDS_JURISDICTION": "eu",
        "IRON_CDS_FHIR_MAX_PAGES": "3",
        "IRON_CDS_LOG_LEVEL": "warning",
    })
    assert config.auth == "off"
    issuer = config.trusted_issuers["https://ehr.example"]
    assert issuer.jwks_file == str(jwks) and issuer.fhir_servers == ("https://fhir.example/R4",)
    assert config.database_url.startswith("postgresql")
    assert config.fhir_timeout == 1.5
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert config.protect_discovery is True
    assert config.knowledge_path == str(override)
    assert config.jurisdiction == "EU"
    assert config.fhir_max_pages == 3
    assert config.log_level == "WARNING"


@pytest.mark.parametrize("name, value, words", [
    ("IRON_CDS_AUTH", "maybe", "IRON_CDS_AUTH"),
    ("IRON_CDS_JURISDICTION", "UK", "IRON_CDS_JURISDICTION"),
    ("IRON_CDS_FHIR_TIMEOUT", "soon", "IRON_CDS_FHIR_TIMEOUT"),
    ("IRON_CDS_FHIR_TIMEOUT", "0", "IRON_CDS_FHIR_TIMEOUT"),
    ("IRON_CDS_PROTECT_DISCOVERY", "perhaps", "IRON_CDS_PROTECT_DISCOVERY"),
    ("IRON_CDS_KNOWLEDGE", "/no/such/file.yaml", "IRON_CDS_KNOWLEDGE"),
    ("IRON_CDS_TRUSTED_ISSUERS", "not json", "IRON_CDS_TRUSTED_ISSUERS"),
    ("IRON_CDS_TRUSTED_ISSUERS", '{"https://ehr.example": 7}', "IRON_CDS_TRUSTED_ISSUERS"),
    ("IRON_CDS_PUBLIC_BASE_URL", "cds.example.org", "IRON_CDS_PUBLIC_BASE_URL"),
    ("IRON_CDS_LOG_LEVEL", "chatty", "IRON_CDS_LOG_LEVEL"),
    ("IRON_CDS_FHIR_MAX_PAGES", "-1", "IRON_CDS_FHIR_MAX_PAGES"),
])
def test_a_bad_value_is_named_in_one_line(name, value, words):
    with pytest.raises(ConfigError) as error:
        Config.from_env({name: value})
    message = str(error.value)
    assert words in message and "\n" not in message


def test_gunicorn_style_start_with_bad_configuration_exits_with_one_line(tmp_path):
    env = {"IRON_CDS_AUTH": "maybe", "PATH": "/usr/bin:/bin", "IRON_CDS_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    done = subprocess.run([sys.executable, "-c", "from cds_service.app import create_app; create_app()"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["iron-cds: configuration error: IRON_CDS_AUTH must be 'jwt' or 'off', not 'maybe'"]


def test_serve_with_bad_configuration_exits_with_one_line(tmp_path):
    from click.testing import CliRunner

    from cds_service.cli import main

    result = CliRunner().invoke(main, ["serve"], env={"IRON_CDS_JURISDICTION": "mars"})
    assert result.exit_code == 3
    assert "IRON_CDS_JURISDICTION must be 'US' or 'EU'" in result.output


def test_serve_listens_where_the_options_or_iron_cds_bind_say():
    from cds_service.cli import serve_bind

    assert serve_bind(None, None, None) == "127.0.0.1:8080"
    assert serve_bind(None, None, "0.0.0.0:9000") == "0.0.0.0:9000"
    assert serve_bind("127.0.0.1", None, "0.0.0.0:9000") == "127.0.0.1:9000"
    assert serve_bind(None, 7000, "0.0.0.0:9000") == "0.0.0.0:7000"
    assert serve_bind(None, None, "[::]:9000") == "[::]:9000"
