"""The era adapter: where a client's protocol era meets its upstream's, held calls included."""
