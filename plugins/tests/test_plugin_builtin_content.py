"""The built-in plugins that inspect or rewrite text, each on a few inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plugin_testkit import call, one, text_result

from forge.core.errors import PluginViolationError


async def blocked(
    kind: str, config: dict[str, Any], hook: str, payload: Any, **kw: Any
) -> dict[str, Any]:
    with pytest.raises(PluginViolationError) as raised:
        await one(kind, config, hook, payload, **kw)
    data: dict[str, Any] = raised.value.data
    return data


# -- PII, secrets, encoded exfiltration (the scanners)


async def test_pii_filter_masks_personal_data_in_arguments_and_results() -> None:
    outcome = await one("pii_filter", {}, "tool_pre_invoke", call(to="mail ann@example.com now"))
    assert outcome.payload["arguments"]["to"] == "mail [REDACTED:EMAIL] now"
    assert outcome.payload["name"] == "echo"
    result = text_result("card 4111 1111 1111 1111")
    outcome = await one("pii_filter", {"mask_mode": "partial"}, "tool_post_invoke", result)
    assert "4111 1111 1111 1111" not in outcome.payload["content"][0]["text"]
    assert outcome.payload["content"][0]["text"].endswith("1111")


async def test_pii_filter_leaves_clean_text_alone_and_can_block_by_kind() -> None:
    outcome = await one("pii_filter", {}, "tool_pre_invoke", call(text="nothing here"))
    assert not outcome.modified
    data = await blocked(
        "pii_filter",
        {"action": "block", "kinds": ["EMAIL"]},
        "tool_pre_invoke",
        call(text="write to bob@example.org"),
    )
    assert data["code"] == "pii_detected"
    assert data["details"] == {"kinds": ["EMAIL"], "count": 1}
    assert "bob@example.org" not in json.dumps(data)


async def test_pii_filter_refuses_an_unknown_kind_at_load() -> None:
    from forge.plugins.config import PluginConfigError

    with pytest.raises(PluginConfigError, match="pii"):
        await one("pii_filter", {"kinds": ["SHOE_SIZE"]}, "tool_pre_invoke", call())


async def test_secrets_detection_blocks_a_key_and_can_mask_instead() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    data = await blocked("secrets_detection", {}, "tool_post_invoke", text_result(f"key={key}"))
    assert data["code"] == "secret_detected"
    assert key not in json.dumps(data)
    outcome = await one("secrets_detection", {"action": "mask"}, "tool_pre_invoke", call(k=key))
    assert key not in json.dumps(outcome.payload)


async def test_exfil_detection_blocks_an_encoded_payload_but_not_prose() -> None:
    import base64

    blob = base64.b64encode(b"password=hunter2 and the api token for prod is here").decode()
    data = await blocked("exfil_detection", {}, "tool_pre_invoke", call(note=f"see {blob}"))
    assert data["code"] == "encoded_exfiltration"
    outcome = await one("exfil_detection", {}, "tool_pre_invoke", call(note="a plain sentence"))
    assert not outcome.modified


# -- deny list, regex replace


async def test_deny_list_blocks_listed_words_and_patterns_only_as_whole_words() -> None:
    config = {"words": ["forbidden"], "patterns": [r"rm\s+-rf"]}
    assert (await blocked("deny_list", config, "tool_pre_invoke", call(c="rm  -rf /")))["code"]
    await blocked("deny_list", config, "prompt_post_fetch", {"messages": ["FORBIDDEN fruit"]})
    outcome = await one("deny_list", config, "tool_pre_invoke", call(c="unforbiddenness"))
    assert not outcome.modified


async def test_regex_replace_rewrites_in_order_and_keeps_tool_names() -> None:
    config = {
        "rules": [
            {"pattern": r"(\d{3})-(\d{4})", "replacement": r"XXX-\2"},
            {"pattern": "secret", "replacement": "[hidden]", "ignore_case": True},
        ]
    }
    payload = call("secret_tool", a="call 555-1234", b=["Secret plan"])
    outcome = await one("regex_replace", config, "tool_pre_invoke", payload)
    assert outcome.payload["arguments"] == {"a": "call XXX-1234", "b": ["[hidden] plan"]}
    assert outcome.payload["name"] == "secret_tool"
    assert payload["arguments"]["a"] == "call 555-1234"  # the input was not changed in place


# -- output length, HTML


async def test_output_length_guard_truncates_across_contents() -> None:
    result = text_result("a" * 8, "b" * 8)
    outcome = await one("output_length_guard", {"max_chars": 10}, "tool_post_invoke", result)
    texts = [c["text"] for c in outcome.payload["content"]]
    assert texts == ["a" * 8, "bb…"]


async def test_output_length_guard_blocks_when_asked_and_checks_a_minimum() -> None:
    config = {"max_chars": 5, "action": "block"}
    data = await blocked("output_length_guard", config, "tool_post_invoke", text_result("123456"))
    assert data["code"] == "output_too_long"
    short = {"min_chars": 3, "max_chars": None}
    data = await blocked("output_length_guard", short, "tool_post_invoke", text_result("1"))
    assert data["code"] == "output_too_short"
    outcome = await one("output_length_guard", {}, "tool_post_invoke", text_result("fine"))
    assert not outcome.modified


async def test_html_sanitizer_removes_scripts_handlers_and_script_urls() -> None:
    html = '<p onclick="x()">Hi<script>alert(1)</script> <a href="javascript:go()">l</a></p>'
    outcome = await one("html_sanitizer", {}, "tool_post_invoke", text_result(html))
    assert outcome.payload["content"][0]["text"] == "<p>Hi <a>l</a></p>"
    plain = await one(
        "html_sanitizer",
        {"strip_all_tags": True},
        "resource_post_fetch",
        {"contents": [{"uri": "u", "text": "<b>bold</b> & more"}]},
    )
    assert plain.payload["contents"][0]["text"] == "bold &amp; more"
    untouched = await one("html_sanitizer", {}, "tool_post_invoke", text_result("a < b & c"))
    assert not untouched.modified


# -- URL reputation


async def test_url_reputation_blocks_denied_domains_and_patterns() -> None:
    config = {"deny_domains": ["evil.test"], "deny_patterns": [r"\.exe$"]}
    data = await blocked(
        "url_reputation", config, "tool_pre_invoke", call(u="see https://cdn.evil.test/x")
    )
    assert data["details"]["host"] == "cdn.evil.test"
    await blocked(
        "url_reputation", config, "tool_post_invoke", text_result("get http://ok.test/setup.exe")
    )
    outcome = await one("url_reputation", config, "tool_pre_invoke", call(u="https://ok.test"))
    assert not outcome.modified


async def test_url_reputation_allow_list_and_redaction() -> None:
    config = {"allow_domains": ["example.com"], "action": "redact", "block_ip_hosts": True}
    text = "docs https://www.example.com/a and http://10.0.0.1/x and https://other.org"
    outcome = await one("url_reputation", config, "tool_post_invoke", text_result(text))
    assert outcome.payload["content"][0]["text"] == (
        "docs https://www.example.com/a and [blocked url] and [blocked url]"
    )
    https = {"require_https": True}
    await blocked("url_reputation", https, "tool_pre_invoke", call(u="http://example.com"))


# -- header filter


async def test_header_filter_removes_denied_request_headers_and_response_headers() -> None:
    request = {
        "method": "POST",
        "path": "/mcp",
        "headers": {"X-Debug": "1", "Authorization": "Bearer t", "Accept": "*/*"},
    }
    config = {"deny_request": ["x-debug*"]}
    outcome = await one("header_filter", config, "http_pre_request", request)
    assert outcome.payload["headers"] == {"Authorization": "Bearer t", "Accept": "*/*"}
    response = {"status": 200, "headers": {"Server": "x", "Content-Type": "application/json"}}
    outcome = await one("header_filter", {}, "http_post_request", response)
    assert outcome.payload["headers"] == {"Content-Type": "application/json"}


async def test_header_filter_can_require_or_refuse_headers() -> None:
    request = {"method": "GET", "path": "/", "headers": {"x-debug": "1"}}
    data = await blocked(
        "header_filter", {"require_request": ["x-tenant"]}, "http_pre_request", request
    )
    assert data["code"] == "missing_header"
    data = await blocked(
        "header_filter",
        {"deny_request": ["x-debug"], "block_denied": True},
        "http_pre_request",
        request,
    )
    assert data["details"] == {"headers": ["x-debug"]}


# -- SQL


async def test_sql_sanitizer_blocks_destructive_and_injected_sql() -> None:
    for sql, kind in [
        ("DROP TABLE users", "blocked_statement"),
        ("select 1; delete from users where id=1", "stacked_queries"),
        ("DELETE FROM users", "unbounded_write"),
        ("select * from t where name = '' or 1=1", "tautology"),
    ]:
        data = await blocked("sql_sanitizer", {}, "tool_pre_invoke", call(query=sql))
        assert data["details"]["kind"] == kind, sql


async def test_sql_sanitizer_passes_safe_sql_and_strips_comments() -> None:
    safe = call(query="select ';drop' from t where a = 1")
    assert not (await one("sql_sanitizer", {}, "tool_pre_invoke", safe)).modified
    outcome = await one(
        "sql_sanitizer",
        {"fields": ["query"]},
        "tool_pre_invoke",
        call(query="select a from t -- trailing", note="DROP is fine here"),
    )
    assert outcome.payload["arguments"] == {"query": "select a from t", "note": "DROP is fine here"}


# -- argument normalizer, JSON repair


async def test_argument_normalizer_normalizes_unicode_spaces_and_invisible_characters() -> None:
    payload = call(a="  Cafe\u0301\u200b  au   lait\x07 ", email="Ann@Example.COM", n=3)
    outcome = await one(
        "argument_normalizer", {"lowercase_fields": ["email"]}, "tool_pre_invoke", payload
    )
    assert outcome.payload["arguments"] == {"a": "Café au lait", "email": "ann@example.com", "n": 3}
    assert not (await one("argument_normalizer", {}, "tool_pre_invoke", call(a="ok"))).modified


async def test_json_repair_fixes_arguments_sent_as_near_json() -> None:
    outcome = await one(
        "json_repair",
        {},
        "tool_pre_invoke",
        {"name": "t", "arguments": "{city: 'Paris', days: 3, tags: ['a',],}"},
    )
    assert outcome.payload["arguments"] == {"city": "Paris", "days": 3, "tags": ["a"]}
    outcome = await one(
        "json_repair", {"fields": ["filter"]}, "tool_pre_invoke", call(filter="{'active': True}")
    )
    assert json.loads(outcome.payload["arguments"]["filter"]) == {"active": True}


async def test_json_repair_fixes_broken_json_results_and_leaves_prose() -> None:
    result = text_result('```json\n{"ok": true, "items": [1, 2,]}\n```', "just words")
    outcome = await one("json_repair", {}, "tool_post_invoke", result)
    assert json.loads(outcome.payload["content"][0]["text"]) == {"ok": True, "items": [1, 2]}
    assert outcome.payload["content"][1]["text"] == "just words"
    good = text_result('{"fine": 1}')
    assert not (await one("json_repair", {}, "tool_post_invoke", good)).modified


# -- schema guard


SCHEMA = {
    "rules": [
        {
            "tools": ["add"],
            "input_schema": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
            "output_schema": {"type": "object", "required": ["sum"]},
        }
    ]
}


async def test_schema_guard_checks_the_arguments_of_matching_tools() -> None:
    assert not (
        await one("schema_guard", SCHEMA, "tool_pre_invoke", call("add", a=1, b=2))
    ).modified
    data = await blocked("schema_guard", SCHEMA, "tool_pre_invoke", call("add", a=1, b="two"))
    assert data["details"] == {"path": "/b", "rule": "type"}
    await one("schema_guard", SCHEMA, "tool_pre_invoke", call("other", x="anything"))


async def test_schema_guard_checks_structured_results() -> None:
    request = call("add", a=1, b=2)
    good = {"content": [], "structuredContent": {"sum": 3}}
    assert not (await one("schema_guard", SCHEMA, "tool_post_invoke", good, request)).modified
    bad = {"content": [], "structuredContent": {"total": 3}}
    data = await blocked("schema_guard", SCHEMA, "tool_post_invoke", bad, request=request)
    assert data["details"]["rule"] == "required"


async def test_schema_guard_refuses_a_bad_schema_at_load() -> None:
    from forge.plugins.config import PluginConfigError

    with pytest.raises(PluginConfigError, match="schema"):
        await one(
            "schema_guard", {"rules": [{"input_schema": {"type": 12}}]}, "tool_pre_invoke", call()
        )
