"""forge.proto.plugins keeps the bytes the plugin wire contract had (docs/plugins.md) and reads
what older peers send."""

from __future__ import annotations

import msgspec

from forge.proto.plugins import (
    BINDING_DECODER,
    HOOK_REPLY_DECODER,
    MANIFEST_DECODER,
    HookReply,
    Manifest,
    PluginBinding,
)

_ENC = msgspec.json.Encoder()


def test_an_unchanged_reply_is_the_bytes_callers_compare_against() -> None:
    assert _ENC.encode(HookReply(modified=False)) == b'{"modified":false}'
    changed = HookReply(modified=True, payload=msgspec.Raw(b'{"a":1}'))
    assert _ENC.encode(changed) == b'{"modified":true,"payload":{"a":1}}'


def test_a_reply_keeps_payload_and_result_raw_and_absent_ones_empty() -> None:
    reply = HOOK_REPLY_DECODER.decode(b'{"modified":true,"payload":[1, 2],"later":0}')
    assert bytes(reply.payload) == b"[1, 2]"
    assert not len(reply.result)


def test_a_manifest_carries_its_inline_section_as_the_runner_encoded_it() -> None:
    section = b'{"tool_post_invoke":{"plugins":[],"defaults":{}}}'
    manifest = Manifest(hooks=["tool_post_invoke"], version="v1", replica="r1")
    sent = _ENC.encode(msgspec.structs.replace(manifest, inline=msgspec.Raw(section)))
    assert b'"inline":' + section in sent
    assert bytes(MANIFEST_DECODER.decode(sent).inline) == section


def test_a_manifest_of_an_older_runner_decodes_with_defaults() -> None:
    old = MANIFEST_DECODER.decode(b'{"hooks":["tool_pre_invoke"],"version":"v","replica":"r"}')
    assert old.plugins == [] and old.rejected == [] and old.wrapped
    assert bytes(old.inline) == b"{}"


def test_a_binding_from_the_registry_round_trips_and_tolerates_new_fields() -> None:
    binding = PluginBinding(id="b1", plugin="pii", team_id="t", owner="a@x", visibility="team")
    sent = _ENC.encode(binding)
    assert BINDING_DECODER.decode(sent) == binding
    assert BINDING_DECODER.decode(sent[:-1] + b',"future":true}') == binding
