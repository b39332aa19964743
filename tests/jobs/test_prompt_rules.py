"""The prompt-text rules and banned-word matching, as pure functions."""

from __future__ import annotations

import time

import pytest

from bot.domain import GuildConfig
from bot.jobs import prompt_rules
from bot.jobs.prompt_rules import (
    MAX_BANNED_PATTERNS,
    MAX_BANNED_TOTAL_CHARS,
    MAX_BANNED_WORDS,
    MAX_QUOTED_CHARS,
    banned_term,
    banning_problem,
    text_problem,
)
from cogs.setup import _words_text


@pytest.mark.parametrize(
    "text",
    [
        "a red fox",
        "a fox\non two lines\twith a tab\r\n",
        "قطة حمراء",
        "a fox 🦊",
        "כן\u200fלא",
        "e\u0301",
        "",
    ],
)
def test_plain_text_is_accepted(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused(char: str) -> None:
    assert (
        text_problem(f"a{char}fox", "suffix")
        == "The suffix contains control characters. Type it as plain text."
    )


@pytest.mark.parametrize("char", [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]])
def test_every_bidi_control_is_refused(char: str) -> None:
    problem = text_problem(f"a fox {char}- @bob")
    assert problem is not None
    assert problem.startswith("The prompt contains text-direction control characters")


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200b\u200c\u200d\u2060", " \ufeff ", "\u3164\u3164", "\u2800", "\u00ad", "\u0301\u034f"],
)
def test_text_that_draws_nothing_is_refused(text: str) -> None:
    assert text_problem(text) == "The prompt has only invisible characters. Type some words."


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    config = GuildConfig(banned_patterns=["(a+)+$", r"(\w+\s?)+x", "(.*a){20}"])
    started = time.perf_counter()
    assert banned_term("a" * 3999 + "!", config) == "a" * (MAX_QUOTED_CHARS - 1) + "…"
    assert banned_term("a b " * 999 + "!", config) is not None  # (.*a){20} matches
    assert banned_term("b " * 1999 + "!", config) is None
    assert time.perf_counter() - started < 0.5


def test_words_match_whole_and_any_case_and_patterns_ignore_case() -> None:
    config = GuildConfig(banned_words=["kraken", "c++"], banned_patterns=[r"sea\s*monster"])
    assert banned_term("A KRAKEN rises", config) == "kraken"
    assert banned_term("krakens and krakenite", config) is None
    assert banned_term("I like C++.", config) == "c++"
    assert banned_term("a giant Sea  Monster", config) == "Sea  Monster"


def test_a_stored_pattern_re2_cannot_compile_is_skipped() -> None:
    config = GuildConfig(banned_words=["kraken"], banned_patterns=[r"(\w)\1"])
    assert banned_term("aa kraken", config) == "kraken"
    assert banned_term("aa", config) is None


@pytest.mark.parametrize("pattern", [r"(\w)\1", r"(?<!sea )monster", r"kraken(?=s)", r"(?P<x>a)(?P=x)"])
def test_patterns_re2_cannot_match_are_refused(pattern: str) -> None:
    problem = banning_problem(GuildConfig(), pattern, regex=True)
    assert problem is not None
    assert "no backreferences or lookarounds" in problem


@pytest.mark.parametrize("pattern", ["x*", "(kraken)?", "$", "^|kraken"])
def test_patterns_that_match_empty_text_are_refused(pattern: str) -> None:
    assert banning_problem(GuildConfig(), pattern, regex=True) == (
        "That pattern also matches empty text. Make it need at least one character."
    )


def test_a_pattern_too_big_to_compile_is_refused() -> None:
    problem = banning_problem(GuildConfig(), r"((((\w{1,50}){1,50}){1,50}){1,50})", regex=True)
    assert problem is not None
    assert problem.startswith("The bot cannot use that pattern")


def test_the_lists_are_capped() -> None:
    many_words = GuildConfig(banned_words=[f"w{n}" for n in range(MAX_BANNED_WORDS)])
    assert banning_problem(many_words, "one more", regex=False) == (
        f"This server already refuses {MAX_BANNED_WORDS} words. Remove one first."
    )
    assert banning_problem(many_words, "w1", regex=False) is None  # already there: nothing added
    many_patterns = GuildConfig(banned_patterns=[f"p{n}" for n in range(MAX_BANNED_PATTERNS)])
    assert "Remove one first" in (banning_problem(many_patterns, "q+", regex=True) or "")
    assert "at most 100 characters" in (banning_problem(GuildConfig(), "x" * 101, regex=False) or "")
    long_words = GuildConfig(banned_words=["x" * 100 + str(n) for n in range(MAX_BANNED_TOTAL_CHARS // 101)])
    assert "together" in (banning_problem(long_words, "y" * 100, regex=False) or "")


def test_the_largest_allowed_lists_fit_one_discord_message() -> None:
    """`/setup words list` shows every word and pattern, in one 2000-character message."""
    words = ["w" * 9 for _ in range(MAX_BANNED_WORDS)]
    patterns = ["p" * 10 for _ in range(MAX_BANNED_PATTERNS)]
    assert sum(map(len, words + patterns)) == MAX_BANNED_TOTAL_CHARS
    assert len(_words_text(GuildConfig(banned_words=words, banned_patterns=patterns), "en-US")) <= 2000


def test_the_compiled_patterns_are_cached() -> None:
    prompt_rules._compiled.cache_clear()
    config = GuildConfig(banned_patterns=["x+"])
    banned_term("a", config)
    banned_term("b", config)
    assert prompt_rules._compiled.cache_info().hits == 1
