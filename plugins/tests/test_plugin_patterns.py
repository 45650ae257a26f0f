"""Configured patterns run on RE2: a pattern that backtracks exponentially in Python's `re`
finishes at once, one RE2 cannot run is refused at load naming its setting, and the plugins
that take patterns keep their behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_testkit import call, one

from forge.core.errors import PluginViolationError
from forge.plugins.config import PluginConfigError
from forge.plugins.loader import vet
from forge.plugins.patterns import PatternError, compile_pattern

# In Python's re each extra "a" doubles the work: 40 of them would take days.
EVIL = "(a+)+$"
ATTACK = "a" * 40 + "!"


def test_a_pattern_that_backtracks_in_python_runs_in_linear_time_on_re2() -> None:
    pattern = compile_pattern("p", EVIL)
    assert pattern.search(ATTACK) is None
    assert pattern.sub("b", "a" * 100_000 + "!") == "a" * 100_000 + "!"
    assert pattern.sub("b", "xaaa") == "xb"


@pytest.mark.parametrize(
    "refused",
    # backreference, lookaround, syntax, a repeat past 1000, a program past its memory bound
    [r"(a)\1", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(", "a{1001}", r"\pL{1000}"],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_the_setting(refused: str) -> None:
    with pytest.raises(PatternError) as raised:
        compile_pattern("p", refused, field="config.rules[3].pattern")
    assert raised.value.field == "config.rules[3].pattern"
    assert isinstance(raised.value, PluginConfigError)  # a load failure like any other


def test_case_folding_and_replacement_templates_are_as_in_python() -> None:
    named = compile_pattern("p", r"(\w+)@(?P<domain>\w+)", ignore_case=True)
    assert named.sub(r"\2 \g<domain> \1", "to BOB@EX now") == "to EX EX BOB now"
    assert compile_pattern("p", "é", ignore_case=True).search("CAFÉ") is not None
    assert compile_pattern("p", "é").search("CAFÉ") is None


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        (
            "regex_replace",
            {"rules": [{"pattern": "ok"}, {"pattern": r"(x)\1"}]},
            "config.rules[1].pattern",
        ),
        ("deny_list", {"patterns": ["(?=x)"]}, "config.patterns[0]"),
        ("url_reputation", {"allow_patterns": ["ok", "("]}, "config.allow_patterns[1]"),
        ("url_reputation", {"deny_patterns": ["(?<!a)b"]}, "config.deny_patterns[0]"),
    ],
)
def test_vetting_a_builtin_kinds_config_names_the_refused_pattern(
    kind: str, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(PatternError) as raised:
        vet(kind, config)
    assert raised.value.field == field
    vet(kind, {})  # the defaults are fine
    vet("no-such-kind", config)  # not a built-in: nothing known to vet here


async def test_regex_replace_with_a_backtracking_pattern_answers_at_once() -> None:
    config = {"rules": [{"pattern": EVIL, "replacement": "b"}]}
    outcome = await one("regex_replace", config, "tool_pre_invoke", call(text=ATTACK))
    assert not outcome.modified
    outcome = await one("regex_replace", config, "tool_pre_invoke", call(text="say aaa"))
    assert outcome.payload["arguments"] == {"text": "say b"}


async def test_deny_list_patterns_run_on_re2_and_words_still_match_unicode_words() -> None:
    config = {"words": ["café"], "patterns": [EVIL]}
    outcome = await one("deny_list", config, "tool_pre_invoke", call(text=ATTACK))
    assert not outcome.violations
    for text in ("un CAFÉ noir", "aaaa"):
        with pytest.raises(PluginViolationError):
            await one("deny_list", config, "tool_pre_invoke", call(text=text))
    outcome = await one("deny_list", config, "tool_pre_invoke", call(text="cafés"))
    assert not outcome.violations  # a whole word only, as before


async def test_url_reputation_deny_patterns_run_on_re2() -> None:
    config = {"deny_patterns": ["(a+)+$"], "action": "block"}
    url = "https://example.com/" + ATTACK
    outcome = await one("url_reputation", config, "tool_pre_invoke", call(u=url))
    assert not outcome.violations


async def test_schema_guard_patterns_run_on_re2() -> None:
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "pattern": EVIL}},
        "patternProperties": {EVIL: {"type": "integer"}},
    }
    config = {"rules": [{"input_schema": schema}]}
    with pytest.raises(PluginViolationError):
        await one("schema_guard", config, "tool_pre_invoke", call(text=ATTACK))
    outcome = await one("schema_guard", config, "tool_pre_invoke", call(text="aaa"))
    assert not outcome.violations
    with pytest.raises(PluginViolationError):  # a key matching patternProperties: an integer
        await one("schema_guard", config, "tool_pre_invoke", call(aa="not a number"))


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        (
            {"properties": {"q": {"pattern": "(?=x)"}}},
            "config.rules[0].input_schema.properties.q.pattern",
        ),
        ({"patternProperties": {r"(a)\1": {}}}, "config.rules[0].input_schema.patternProperties"),
    ],
)
def test_schema_guard_refuses_a_pattern_re2_cannot_run(schema: dict[str, Any], field: str) -> None:
    with pytest.raises(PatternError) as raised:
        vet("schema_guard", {"rules": [{"input_schema": schema}]})
    assert raised.value.field == field


@pytest.mark.parametrize("keyword", ["additionalProperties", "unevaluatedProperties"])
def test_schema_guard_refuses_pattern_properties_beside_keywords_matched_outside_re2(
    keyword: str,
) -> None:
    schema = {"patternProperties": {"^x": {}}, keyword: False}
    with pytest.raises(PluginConfigError):
        vet("schema_guard", {"rules": [{"output_schema": schema}]})
    vet("schema_guard", {"rules": [{"output_schema": {"additionalProperties": False}}]})
