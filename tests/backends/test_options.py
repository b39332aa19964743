"""Account options: each backend declares the keys it reads; anything else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.backends import check_options
from bot.config import ConfigError, load_settings
from bot.domain import BackendKind


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        (BackendKind.MJ_PROXY, {"flavour": "csharp"}),
        (BackendKind.USEAPI, {"channel": "1234567890", "server": "987"}),
        (BackendKind.NEXTLEG, {"min_interval": "1.5"}),
        (BackendKind.AIMG, {"model": "f222"}),
        (BackendKind.AIMG, {}),
    ],
)
def test_declared_options_pass(kind: BackendKind, options: dict[str, str]) -> None:
    check_options(kind, options)


def test_an_unknown_key_is_refused_with_the_allowed_ones_and_never_its_value() -> None:
    with pytest.raises(ValueError, match="no option") as refused:
        check_options(BackendKind.USEAPI, {"discord": "a-discord-token"})
    text = str(refused.value)
    assert "'discord'" in text and "channel=" in text and "server=" in text
    assert "a-discord-token" not in text


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        (BackendKind.MJ_PROXY, {"flavour": "javascript"}),
        (BackendKind.USEAPI, {"channel": "general"}),
        (BackendKind.NEXTLEG, {"min_interval": "-1"}),
        (BackendKind.AIMG, {"model": "f222; DROP"}),
        (BackendKind.NEXTLEG, {"flavour": "java"}),
    ],
)
def test_a_value_of_the_wrong_shape_or_another_service_s_key_is_refused(
    kind: BackendKind, options: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="option"):
        check_options(kind, options)


def test_a_config_file_account_with_an_unknown_option_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[accounts]]\nguild_id = 1\nname = "u"\nkind = "useapi"\nbase_url = "https://api.useapi.net"\n'
        'options = { discord = "a-discord-token" }\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "accounts.0" in str(refused.value) and "no option 'discord'" in str(refused.value)
    assert "a-discord-token" not in str(refused.value)
