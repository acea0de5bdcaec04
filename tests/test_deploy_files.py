"""The container files (Dockerfile, Dockerfile.rasa, compose.yaml, .env.example) agree with the code.

No Docker daemon is needed: compose.yaml is read as YAML and checked against bot.settings.Settings, the app's
routes and the `ruta` command line; `docker compose config` (or docker-compose's) runs too when installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from bot.cli import main as ruta
from bot.serve import create_app
from bot.settings import REPO_ROOT, Settings
from nlu.parse import NluBackend
from tests.test_conversations import make_engine

COMPOSE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERFILE_RASA = REPO_ROOT / "Dockerfile.rasa"
INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")
READ_BY_COMPOSE = {"COMPOSE_PROFILES"}  # compose itself reads it from .env; no service gets it


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _bot_environment() -> dict[str, str]:
    environment = _compose()["services"]["bot"]["environment"]
    assert isinstance(environment, dict), "the bot's environment is a mapping"
    return {str(name): str(value) for name, value in environment.items()}


def _interpolated(text: str, values: dict[str, str]) -> str:
    """`${NAME}`, `${NAME:-default}` and `${NAME:?error}` as compose reads them, with `values` as the .env."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        value = values.get(name, "")
        if operator == ":-":
            return value or argument
        if operator == ":?" and not value:
            raise AssertionError(f"{name} is required: {argument}")
        return value

    return INTERPOLATION.sub(one, text)


def _env_example() -> dict[str, str]:
    """The variables .env.example lists, each checked to have a comment line just above it."""
    variables: dict[str, str] = {}
    previous = ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f".env.example: bad line {line!r}"
            assert previous.startswith("#"), f".env.example: {name} has no comment above it"
            assert name not in variables, f".env.example lists {name} twice"
            variables[name] = value
        previous = line
    return variables


def _dockerfile_json(path: Path, instruction: str) -> list[str]:
    """The exec-form (JSON) argument list of the last `instruction` in a Dockerfile (lines joined at `\\`)."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(instruction + " ")]
    assert lines, f"{path.name} has no {instruction}"
    arguments = lines[-1].removeprefix(instruction).strip()
    if instruction == "HEALTHCHECK":
        arguments = arguments.split(" CMD ", 1)[1]
    parsed = json.loads(arguments)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def _probed_url(command: list[str]) -> str:
    """The URL a health check command (`python -c "...urlopen('URL'...)"`) asks for."""
    match = re.search(r"urlopen\('([^']+)'", " ".join(command))
    assert match, f"no urlopen('...') in {command}"
    return match.group(1)


def test_compose_services_and_their_wiring() -> None:
    services = _compose()["services"]
    assert set(services) == {"bot", "db", "rasa"}
    bot, db, rasa = services["bot"], services["db"], services["rasa"]
    assert bot["build"] == "."
    assert bot["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert bot["restart"] == db["restart"] == rasa["restart"] == "unless-stopped"
    assert any(str(port).endswith(":8080") for port in bot["ports"])
    assert db["image"] == "postgres:15"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(str(volume).endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert {"db-data", "bot-home"} <= set(_compose()["volumes"])
    assert rasa["profiles"] == ["rasa"], "Rasa is optional: only with the rasa profile"
    assert rasa["build"] == {"context": ".", "dockerfile": "Dockerfile.rasa"}
    assert "profiles" not in bot and "profiles" not in db


def test_every_ruta_variable_of_compose_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for name in _bot_environment():
        assert name.startswith("RUTA_"), f"the bot gets {name}, which no setting reads"
        assert name.removeprefix("RUTA_").lower() in fields, f"{name} is not a field of bot.settings.Settings"


def test_env_example_lists_exactly_what_compose_reads() -> None:
    listed = _env_example()
    read = set(INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8")))
    names = {name for name, _, _ in read}
    assert set(listed) == names | READ_BY_COMPOSE
    fields = set(Settings.model_fields)
    for name in listed:
        if name.startswith("RUTA_"):
            assert name.removeprefix("RUTA_").lower() in fields, f".env.example: {name} is not a setting"
    assert not listed["POSTGRES_PASSWORD"] and not listed["RUTA_PSEUDONYM_KEY"], "no secret is committed"


def test_secrets_are_required_and_the_database_is_postgresql_with_psycopg() -> None:
    environment = _bot_environment()
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is required"):
        _interpolated(environment["RUTA_DATABASE_URL"], {})
    with pytest.raises(AssertionError, match="RUTA_PSEUDONYM_KEY is required"):
        _interpolated(environment["RUTA_PSEUDONYM_KEY"], {})
    url = _interpolated(environment["RUTA_DATABASE_URL"], {"POSTGRES_PASSWORD": "pw"})
    db = _compose()["services"]["db"]["environment"]
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+psycopg"
    assert (parts.username, parts.hostname, parts.port, parts.path) == (db["POSTGRES_USER"], "db", 5432, "/ruta")
    assert db["POSTGRES_DB"] == "ruta"
    assert ".env" in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split(), "no .env in an image"


def test_the_rasa_url_of_compose_reaches_the_rasa_service() -> None:
    url = urlsplit(_bot_environment()["RUTA_RASA_URL"])
    command = _dockerfile_json(DOCKERFILE_RASA, "CMD")
    assert url.hostname == "rasa"
    assert command[:3] == ["rasa", "run", "--enable-api"]
    assert command[command.index("--port") + 1] == str(url.port)
    assert command[command.index("-i") + 1] == "0.0.0.0"


def test_dockerfile_rasa_is_what_scripts_rasa_sh_installs_and_trains() -> None:
    script = (REPO_ROOT / "scripts" / "rasa.sh").read_text(encoding="utf-8")
    version = re.search(r'^RASA_VERSION="([^"]+)"', script, re.MULTILINE)
    assert version
    text = DOCKERFILE_RASA.read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.10-slim" in text
    assert f"rasa=={version.group(1)}" in text
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+) ", text, re.MULTILINE):
        assert (REPO_ROOT / source).exists(), f"Dockerfile.rasa copies {source}, which does not exist"
    assert "rasa train nlu --nlu nlu/data --config nlu/config.yml --domain domain.yml" in " ".join(text.split())


def test_the_dockerfile_runs_a_real_ruta_command() -> None:
    command = _dockerfile_json(DOCKERFILE, "CMD")
    assert command[0] == "ruta"
    subcommand = ruta.get_command(None, command[1])  # type: ignore[arg-type]
    assert subcommand is not None, f"`ruta {command[1]}` does not exist"
    context = subcommand.make_context(command[1], command[2:])  # raises on an option it does not have
    assert context.params["host"] == "0.0.0.0"
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert exposed and int(exposed.group(1)) == context.params["port"]


def test_the_health_checks_probe_the_served_port() -> None:
    port = _dockerfile_json(DOCKERFILE, "CMD")[-1]
    for command in (_dockerfile_json(DOCKERFILE, "HEALTHCHECK"), _compose()["services"]["bot"]["healthcheck"]["test"]):
        url = urlsplit(_probed_url(command))
        assert (url.hostname, str(url.port), url.path) == ("127.0.0.1", port, "/healthz")
    rasa = urlsplit(_probed_url(_compose()["services"]["rasa"]["healthcheck"]["test"]))
    assert (rasa.port, rasa.path) == (5005, "/status")


async def test_the_app_built_from_compose_settings_answers_the_health_check(
    embedded_nlu: NluBackend, tmp_path: Path
) -> None:
    """Compose's values parse as Settings (empty channel settings serve no channel), and /healthz answers 200."""
    secrets = {"POSTGRES_PASSWORD": "pw", "RUTA_PSEUDONYM_KEY": "k" * 32}
    values: dict[str, Any] = {
        name.removeprefix("RUTA_").lower(): _interpolated(v, secrets) for name, v in _bot_environment().items()
    }
    values["database_url"] = f"sqlite:///{tmp_path / 'ruta.sqlite3'}"
    settings = Settings(_env_file=None, **values)
    assert settings.nlu_backend == "embedded" and settings.admin_https_only
    assert len(settings.resolved_pseudonym_key()) == 32
    app = create_app(settings, make_engine(embedded_nlu, tmp_path / "ruta.sqlite3"))
    path = urlsplit(_probed_url(_compose()["services"]["bot"]["healthcheck"]["test"])).path
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["channels"] == []


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = tmp_path / ".env"
    env.write_text(
        ENV_EXAMPLE.read_text(encoding="utf-8")
        .replace("POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=pw\n")
        .replace("RUTA_PSEUDONYM_KEY=\n", f"RUTA_PSEUDONYM_KEY={'k' * 32}\n"),
        encoding="utf-8",
    )
    base = [*cli, "--env-file", str(env), "-f", str(COMPOSE)]
    checked = subprocess.run([*base, "--profile", "rasa", "config"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "postgresql+psycopg://ruta:pw@db:5432/ruta" in checked.stdout
    unset = subprocess.run(
        [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60
    )
    assert unset.returncode != 0 and "POSTGRES_PASSWORD" in unset.stderr, "an unfilled .env is refused"
