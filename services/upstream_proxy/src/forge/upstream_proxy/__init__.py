"""upstream_proxy."""
