"""The built-in plugins that keep state: rate limiter (shared through NATS KV), circuit
breaker, watchdog, cached tool result, and the webhook notification (a real HTTP receiver)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from plugin_testkit import LOOPBACK, call, load, run, text_result

from forge.core.bus import NatsBus
from forge.core.errors import PluginViolationError
from forge.plugins.builtin.webhook import WebhookNotification
from forge.plugins.plugin import Host
from forge.plugins.result import KEEP
from forge.testing.listener import Listener


async def refused(
    plugins: Any, hook: str, payload: Any, request: Any = None, **kw: Any
) -> dict[str, Any]:
    with pytest.raises(PluginViolationError) as raised:
        await run(plugins, hook, payload, request, **kw)
    data: dict[str, Any] = raised.value.data
    return data


# -- rate limiter


def rate_limiter(config: str) -> str:
    return f"plugins: [{{name: rl, kind: rate_limiter, config: {config}}}]"


async def test_rate_limit_is_shared_by_replicas_through_nats_kv(bus: NatsBus) -> None:
    prefix = f"rl_{uuid.uuid4().hex[:8]}"
    text = rate_limiter(f"{{by_user: 3/d, bucket_prefix: {prefix}}}")
    first = await load(text, Host(bus=bus, replica="a"))
    second = await load(text, Host(bus=bus, replica="b"))
    for replica in (first, second, first):
        await run(replica, "tool_pre_invoke", call())
    data = await refused(second, "tool_pre_invoke", call())
    assert data["code"] == "rate_limited"
    assert data["details"]["dimension"] == "user"
    assert data["details"]["limit"] == 3
    # another user has a budget of their own
    await run(second, "tool_pre_invoke", call(), user="bob@example.com")


async def test_rate_limit_by_tool_counts_every_caller_of_one_tool(bus: NatsBus) -> None:
    prefix = f"rl_{uuid.uuid4().hex[:8]}"
    text = rate_limiter(f"{{by_tool: 2/d, bucket_prefix: {prefix}}}")
    plugins = await load(text, Host(bus=bus))
    await run(plugins, "tool_pre_invoke", call("echo"), user="a@x.test")
    await run(plugins, "tool_pre_invoke", call("echo"), user="b@x.test")
    await run(plugins, "tool_pre_invoke", call("add"), user="b@x.test")
    data = await refused(plugins, "tool_pre_invoke", call("echo"), user="c@x.test")
    assert data["details"]["dimension"] == "tool"


async def test_rate_limit_by_team_without_a_bus_counts_in_memory() -> None:
    plugins = await load("plugins: [{name: rl, kind: rate_limiter, config: {by_team: 1/d}}]")
    await run(plugins, "tool_pre_invoke", call(), user="a@x.test", teams=("a-own", "blue"))
    data = await refused(plugins, "tool_pre_invoke", call(), user="b@x.test", teams=("b", "blue"))
    assert data["details"]["dimension"] == "team"


async def test_a_bad_rate_fails_the_load() -> None:
    from forge.plugins.config import PluginConfigError

    with pytest.raises(PluginConfigError, match="bad rate"):
        await load("plugins: [{name: rl, kind: rate_limiter, config: {by_user: lots}}]")


# -- circuit breaker, watchdog


async def test_circuit_breaker_opens_after_failures_and_a_trial_closes_it() -> None:
    plugins = await load(
        "plugins: [{name: cb, kind: circuit_breaker,"
        " config: {failure_threshold: 2, cooldown_s: 3600}}]"
    )
    failed = text_result("boom", isError=True)
    request = call("flaky")
    for _ in range(2):
        await run(plugins, "tool_pre_invoke", request)
        await run(plugins, "tool_post_invoke", failed, request)
    data = await refused(plugins, "tool_pre_invoke", request)
    assert data["code"] == "circuit_open"
    await run(plugins, "tool_pre_invoke", call("steady"))  # other tools are not affected
    breaker = plugins.plugins["cb"]
    breaker.circuits["flaky"].opened_at -= 3600  # the cooldown has passed
    await run(plugins, "tool_pre_invoke", request)  # the one trial call
    await refused(plugins, "tool_pre_invoke", request)  # others wait for the trial
    await run(plugins, "tool_post_invoke", text_result("ok"), request)
    await run(plugins, "tool_pre_invoke", request)


async def test_watchdog_withholds_a_result_that_came_too_late() -> None:
    late = await load("plugins: [{name: wd, kind: watchdog, config: {max_runtime_s: 0}}]")
    await run(late, "tool_pre_invoke", call(), request_id="slow")
    data = await refused(late, "tool_post_invoke", text_result("done"), call(), request_id="slow")
    assert data["code"] == "runtime_exceeded"
    relaxed = await load("plugins: [{name: wd, kind: watchdog, config: {max_runtime_s: 60}}]")
    await run(relaxed, "tool_pre_invoke", call(), request_id="quick")
    outcome = await run(
        relaxed, "tool_post_invoke", text_result("done"), call(), request_id="quick"
    )
    assert not outcome.modified


# -- cached tool result


async def test_cached_tool_result_answers_a_repeated_call_in_place() -> None:
    plugins = await load(
        "plugins: [{name: cache, kind: cached_tool_result, config: {tools: [weather]}}]"
    )
    request = call("weather", city="Paris")
    first = await run(plugins, "tool_pre_invoke", request)
    assert first.result is KEEP and not first.modified
    await run(plugins, "tool_post_invoke", text_result("sunny"), request)
    again = await run(plugins, "tool_pre_invoke", call("weather", city="Paris"))
    assert again.result == text_result("sunny")
    other_city = await run(plugins, "tool_pre_invoke", call("weather", city="Oslo"))
    other_user = await run(plugins, "tool_pre_invoke", request, user="bob@x.test")
    uncached = await run(plugins, "tool_pre_invoke", call("news"))
    assert all(o.result is KEEP for o in (other_city, other_user, uncached))


async def test_cached_tool_result_keeps_no_failures() -> None:
    plugins = await load("plugins: [{name: c, kind: cached_tool_result, config: {tools: ['*']}}]")
    request = call("x")
    await run(plugins, "tool_post_invoke", text_result("bad", isError=True), request)
    assert (await run(plugins, "tool_pre_invoke", request)).result is KEEP
    assert plugins.plugins["c"].entries == {}


# -- webhook notification


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]]:
    """A real HTTP endpoint on loopback; each POST lands in the queue."""
    received: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        await received.put((headers, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_webhook_posts_violations_of_other_plugins_signed(
    receiver: tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    plugins = await load(
        f"""
plugins:
  - name: notify
    kind: webhook_notification
    config: {{url: "{url}", secret: s3cret}}
  - name: guard
    kind: deny_list
    mode: permissive
    config: {{words: [forbidden]}}
""",
        LOOPBACK,
    )
    try:
        await run(plugins, "tool_pre_invoke", call("echo", text="forbidden words"))
        async with asyncio.timeout(10):
            headers, body = await received.get()
    finally:
        await plugins.close()
    event = json.loads(body)
    assert (event["event"], event["plugin"], event["code"]) == (
        "violation",
        "guard",
        "denied_content",
    )
    assert (event["target"], event["user"]) == ("echo", "ann@example.com")
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-forge-signature"] == f"sha256={expected}"


async def test_webhook_reports_failed_tool_calls(
    receiver: tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    plugins = await load(
        f'plugins: [{{name: n, kind: webhook_notification, config: {{url: "{url}"}}}}]', LOOPBACK
    )
    try:
        await run(plugins, "tool_post_invoke", text_result("fine"), call("ok"))
        await run(plugins, "tool_post_invoke", text_result("no", isError=True), call("bad"))
        async with asyncio.timeout(10):
            _, body = await received.get()
    finally:
        await plugins.close()
    event = json.loads(body)
    assert (event["event"], event["target"]) == ("tool_error", "bad")
    assert received.empty()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "192.0.2.1"])
async def test_webhook_to_a_forbidden_address_sends_nothing(host: str) -> None:
    with Listener() as listener:
        url = listener.url.replace("127.0.0.1", host)
        plugins = await load(
            f'plugins: [{{name: n, kind: webhook_notification, config: {{url: "{url}"}}}}]'
        )
        webhook = plugins.plugins["n"]
        assert isinstance(webhook, WebhookNotification)
        try:
            await run(plugins, "tool_post_invoke", text_result("no", isError=True), call("bad"))
            async with asyncio.timeout(10):
                await asyncio.gather(*webhook.pending)
        finally:
            await plugins.close()
        assert webhook.sent == 0 and listener.received == 0


@pytest.mark.parametrize(
    ("text", "rate"),
    [("60/m", (60, 60)), ("10 / s", (10, 1)), ("5/10s", (5, 10)), ("1000/hour", (1000, 3600))],
)
def test_rates_read_as_count_per_window(text: str, rate: tuple[int, int]) -> None:
    from forge.plugins.builtin.ratelimit import parse_rate

    assert parse_rate(text) == rate
