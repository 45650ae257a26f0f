"""Plugin-runner settings (FORGE_PLUGIN_RUNNER_*, shared ones FORGE_*)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class PluginRunnerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    # The plugin configuration file (YAML, see docs/plugins.md); empty: no plugins.
    plugins_config: str = ""
    # How often the file is checked for changes (mtime and size, then content hash).
    reload_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # How often the manifest (the hooks served) is announced besides on start and on change.
    manifest_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # How long a replaced configuration's plugins may finish calls in flight before they stop.
    drain_s: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    # How often every plugin binding is read again from the catalog (events keep them current
    # meanwhile; this catches one lost while NATS reconnected), and how long one read may take.
    bindings_resync_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    bindings_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # Networks plugins may connect to although the SSRF guard refuses them (shared by every
    # service as FORGE_UPSTREAM_ALLOWED_NETWORKS; CIDRs, comma-separated).
    upstream_allowed_networks: str = ""
