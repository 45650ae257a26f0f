-- stdio gateways: the child's argv (NULL for network transports) and its own environment.
ALTER TABLE gateways
    ADD COLUMN command jsonb,
    ADD COLUMN env     jsonb NOT NULL DEFAULT '{}';
