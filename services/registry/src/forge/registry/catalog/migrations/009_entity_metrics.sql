-- Per-entity call metrics (docs/decisions/0020-entity-metrics.md): each router batch received on
-- forge.events.metrics.<kind> is stored as raw rows, one per entity; the roll-up adds raw rows
-- of ended periods into one row per (kind, entity, period) and marks them rolled up, in one
-- transaction, so a raw row is counted in exactly one place. Rolled-up raw rows are deleted after
-- the retention time. Times are whole microseconds, so sums and means are exact after roll-up.
-- `buckets` is the latency histogram: {"<bucket index>": calls} over forge.proto.metrics.BOUNDS_S.
-- No foreign keys: metrics of a deleted entity stay until reset, and a batch may name an entity
-- this registry has not stored yet.

CREATE TABLE metric_samples (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    entity_id   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    calls       bigint NOT NULL,
    failures    bigint NOT NULL,
    total_us    bigint NOT NULL,
    min_us      bigint NOT NULL,
    max_us      bigint NOT NULL,
    last_at     timestamptz NOT NULL,
    buckets     jsonb NOT NULL DEFAULT '{}',
    rolled_up   boolean NOT NULL DEFAULT false
);
CREATE INDEX metric_samples_pending ON metric_samples (kind, entity_id) WHERE NOT rolled_up;
CREATE INDEX metric_samples_ended ON metric_samples (last_at) WHERE NOT rolled_up;
CREATE INDEX metric_samples_expiring ON metric_samples (received_at) WHERE rolled_up;

CREATE TABLE metric_rollups (
    kind         text NOT NULL,
    entity_id    text NOT NULL,
    period_start timestamptz NOT NULL,
    calls        bigint NOT NULL,
    failures     bigint NOT NULL,
    total_us     bigint NOT NULL,
    min_us       bigint NOT NULL,
    max_us       bigint NOT NULL,
    last_at      timestamptz NOT NULL,
    buckets      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, entity_id, period_start)
);
