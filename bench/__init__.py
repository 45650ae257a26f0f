"""Forge's benchmark: tools/call latency and throughput, direct and through the gateway."""
