"""Dockerfile and compose.yaml cannot be built here; this checks they still match the project:
the command, the web port and health route, the data volume and every MJBOT_ variable they set,
and that docs/scaling.md's several-process override runs every shard once."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.cli import _parser
from bot.config import Settings, WebSettings
from bot.discord_side.app import SHUTDOWN_SECONDS
from bot.shards import parse_shards
from bot.web import HEALTH_PATH

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _all(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _all("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _is_setting(name: str) -> bool:
    """``MJBOT_SECTION_KEY`` names a field of the settings (bot/config.py's rule: the first
    underscore after the prefix separates section and key); MJBOT_CONFIG names the file."""
    if name == "MJBOT_CONFIG":
        return True
    section, _, key = name.removeprefix("MJBOT_").lower().partition("_")
    field = Settings.model_fields.get(section)
    model: Any = field.annotation if field is not None else None
    return model is not None and key in getattr(model, "model_fields", {})


def test_dockerfile_runs_the_bot_as_the_project_defines_it() -> None:
    python = re.fullmatch(r"python:(3\.\d+)-slim", _all("FROM")[0])
    assert python is not None and python.group(1) in ("3.11", "3.12")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert any("uv sync --locked --no-dev" in args for args in _all("RUN"))

    entry = json.loads(_all("ENTRYPOINT")[-1]) + json.loads(_all("CMD")[-1])
    assert entry[0] in project["scripts"]
    assert _parser().parse_args(entry[1:]).command == "run"
    assert _all("USER") and _all("USER")[-1] not in ("root", "0")

    env = _env()
    port = WebSettings().port
    assert _all("EXPOSE") == [str(port)]
    assert env["MJBOT_WEB_PORT"] == str(port) and env["MJBOT_WEB_HOST"] == "0.0.0.0"
    volume = _all("VOLUME")[-1]
    assert Path(env["MJBOT_STORE_PATH"]).parent == Path(volume)
    assert all(_is_setting(name) for name in env if name.startswith("MJBOT_")), env
    health = _all("HEALTHCHECK")[-1]
    assert f"http://127.0.0.1:{port}{HEALTH_PATH}" in health


def test_compose_runs_that_image_with_its_volume_and_an_optional_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot = compose["services"]["mjbot"]
    assert bot["build"] == "."
    env = bot["environment"]
    assert all(_is_setting(name) for name in env), env
    assert env["MJBOT_STORE_PATH"] == _env()["MJBOT_STORE_PATH"]
    assert env["MJBOT_WEB_PORT"] == _all("EXPOSE")[0]
    assert [p.split(":")[-1] for p in bot["ports"]] == _all("EXPOSE")
    assert [v.split(":")[1] for v in bot["volumes"]] == [_all("VOLUME")[-1]]
    assert all(v.split(":")[0] in compose["volumes"] for v in bot["volumes"])
    assert int(bot["stop_grace_period"].removesuffix("s")) > SHUTDOWN_SECONDS
    assert "profiles" not in bot
    postgres = compose["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["image"].startswith("postgres:")


#: YAML as compose reads it: ``!override`` keeps its list.
_ComposeLoader: Any = type("ComposeLoader", (yaml.SafeLoader,), {})
_ComposeLoader.add_constructor("!override", lambda load, node: load.construct_sequence(node))


def _scaling_example() -> dict[str, Any]:
    """docs/scaling.md's compose override for several processes (its one ``yaml`` block)."""
    [block] = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/scaling.md").read_text(), re.DOTALL)
    example: dict[str, Any] = yaml.load(block, Loader=_ComposeLoader)
    return example


def test_the_scaling_docs_example_runs_every_shard_once_on_the_compose_bot() -> None:
    bots = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    services = _scaling_example()["services"]
    counts, shards, host_ports = set(), [], []
    for name, service in services.items():
        base = bots.get(name) or bots[service["extends"]["service"]]
        env = service["environment"]
        assert all(_is_setting(key) for key in env), env
        counts.add(int(env["MJBOT_DISCORD_SHARD_COUNT"]))
        shards += parse_shards(env["MJBOT_DISCORD_SHARDS"])
        host_ports += [port.split(":")[0] for port in service.get("ports", base["ports"])]
    [count] = counts
    assert sorted(shards) == list(range(count))  # every shard, each in one process
    assert len(set(host_ports)) == len(host_ports) == len(services)  # a web port each
