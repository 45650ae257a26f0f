"""SQL of the identity tables, one module per concept; run inside a `store.Tx`."""
