-- When each agent's card was last fetched (registration, or a periodic refresh claiming it):
-- replicas claim the agents whose card is due with FOR UPDATE SKIP LOCKED and stamp this column
-- in the same statement, so one agent's refresh is claimed by one replica (catalog/card_refresh.py).

ALTER TABLE agents ADD COLUMN card_refreshed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX agents_card_refreshed_at ON agents (card_refreshed_at) WHERE enabled;
