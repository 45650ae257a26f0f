"""Plugin-runner settings (FORGE_PLUGIN_RUNNER_*, shared ones FORGE_*): the one source of its
README's table."""

from __future__ import annotations

from typing import Annotated

import msgspec

from forge.core.settings import (
    DrainTimeoutS,
    LogFormat,
    LogLevel,
    MaxInflight,
    NatsUrl,
    OpsHost,
    OpsPort,
    UpstreamAllowedNetworks,
    doc,
)


class PluginRunnerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    plugins_config: Annotated[
        str, doc("The plugin configuration file (YAML, see docs/plugins.md); empty: no plugins.")
    ] = ""
    reload_interval_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc("How often the file is checked for changes (mtime and size, then content hash)."),
    ] = 1.0
    manifest_interval_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc(
            "How often the manifest (the hooks served) is announced besides on start and on change."
        ),
    ] = 5.0
    drain_s: Annotated[
        float,
        msgspec.Meta(ge=0),
        doc(
            "How long a replaced configuration's plugins may finish calls in flight before they "
            "stop."
        ),
    ] = 10.0
    # Events keep the bindings current meanwhile; the resync catches one lost while NATS
    # reconnected.
    bindings_resync_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc("How often every plugin binding is read again from the catalog."),
    ] = 60.0
    bindings_timeout_s: Annotated[
        float, msgspec.Meta(gt=0), doc("How long one read of the bindings may take.")
    ] = 5.0
    upstream_allowed_networks: UpstreamAllowedNetworks = ""
