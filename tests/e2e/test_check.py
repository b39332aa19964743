"""``mjbot check`` as an operator runs it (a subprocess) against fake backends on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sandbox.fake_mj_proxy import FakeMjProxy

REPO = Path(__file__).resolve().parents[2]
GOOD_SECRET = "good-secret-41f0"
WRONG_SECRET = "wrong-secret-77aa"


async def _mjbot_check(config: Path, *options: str) -> tuple[int, str, str]:
    """The exit status, the table (stdout), and log lines and errors (stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "check",
        "--config",
        str(config),
        *options,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _config(tmp_path: Path, accounts: list[tuple[str, FakeMjProxy, str]]) -> Path:
    lines = [f'[store]\npath = "{tmp_path / "data" / "mjbot.sqlite3"}"\n']
    for name, proxy, secret in accounts:
        lines.append(
            f'[[accounts]]\nguild_id = 42\nname = "{name}"\nkind = "mj_proxy"\n'
            f'base_url = "{proxy.base_url}"\nsecret = "{secret}"\nmax_jobs = 5\n'
        )
    path = tmp_path / "mjbot.toml"
    path.write_text("\n".join(lines))
    return path


async def test_check_prints_a_table_and_fails_on_a_wrong_secret(tmp_path: Path) -> None:
    good, bad = FakeMjProxy(secret=GOOD_SECRET), FakeMjProxy(secret=GOOD_SECRET)
    await good.start()
    await bad.start()
    try:
        code, out, err = await _mjbot_check(
            _config(tmp_path, [("main", good, GOOD_SECRET), ("spare", bad, WRONG_SECRET)]),
            "--log-format",
            "json",
        )
        assert code == 1, out + err
        lines = out.splitlines()
        assert lines[0].split() == ["CHECK", "SERVER", "SERVICE", "CAPACITY", "RESULT"]
        rows = {" ".join(line.split()[:2]): line for line in lines[1:5]}
        assert "OK" in rows["store -"]
        main = rows["account main"].split()
        assert main[2:6] == ["42", "mj_proxy", "5", "jobs"] and main[6] == "OK"
        spare = rows["account spare"].split()
        assert spare[6] == "FAIL" and "refused the bot's credentials" in rows["account spare"]
        assert all(s not in out + err for s in (WRONG_SECRET, GOOD_SECRET))
        # The log (the new store's key file, said once) is JSON lines, apart from the table.
        logged = [json.loads(line) for line in err.splitlines()]
        assert [line["logger"] for line in logged] == ["bot.store"]
        # Every account was really asked, with its own secret.
        assert good.requests and bad.requests

        code, out, err = await _mjbot_check(_config(tmp_path, [("main", good, GOOD_SECRET)]))
        assert code == 0, out + err
        assert "FAIL" not in out
    finally:
        await good.stop()
        await bad.stop()


async def test_check_refuses_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "mjbot.toml"
    config.write_text('[[accounts]]\nguild_id = 1\nname = "x"\nkind = "nope"\nbase_url = "http://h"\n')
    code, out, err = await _mjbot_check(config)
    assert code == 2
    assert "accounts.0.kind" in err and out == ""
