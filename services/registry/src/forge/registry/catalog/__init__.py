"""The catalog registry: gateways, their tools, resources and prompts, virtual servers, plugin
bindings and upstream credentials."""
