-- A2A agents (forge.proto.agents): registered by URL, their card fetched and stored. Each enabled
-- agent is offered as one tool whose gateway_id is the agent's id, so tools no longer reference
-- gateways alone: a tool belongs to a gateway or (agent_id set, equal to gateway_id) to an agent,
-- and is deleted with either by cascade.

CREATE TABLE agents (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    slug             text NOT NULL,
    url              text NOT NULL,
    card_url         text,
    description      text,
    enabled          boolean NOT NULL DEFAULT true,
    reachable        boolean NOT NULL DEFAULT true,
    protocol_version text NOT NULL,
    binding          text NOT NULL,
    card             jsonb NOT NULL DEFAULT '{}',
    streaming        boolean NOT NULL DEFAULT false,
    timeout_s        double precision,
    tags             jsonb NOT NULL DEFAULT '[]',
    owner            text,
    team_id          text,
    visibility       text NOT NULL,
    -- UpstreamAuth.type in clear (the REST view shows it); the rest only sealed (AES-GCM).
    auth_type        text NOT NULL DEFAULT 'none',
    auth             text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The slug names the agent's tool (`a2a-<slug>`), which is unique across the catalog.
    CONSTRAINT agents_slug_key UNIQUE (slug),
    CONSTRAINT agents_visibility_check
        CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL))
);

-- Names are unique per team, as gateway names are (an entry without a team: per owner).
CREATE UNIQUE INDEX agents_name_key
    ON agents (COALESCE(team_id, 'owner:' || COALESCE(owner, '')), name);
CREATE INDEX agents_team_id ON agents (team_id);

ALTER TABLE tools DROP CONSTRAINT tools_gateway_id_fkey;
ALTER TABLE tools ADD COLUMN agent_id text REFERENCES agents (id) ON DELETE CASCADE;
ALTER TABLE tools ADD CONSTRAINT tools_agent_check CHECK (agent_id IS NULL OR agent_id = gateway_id);
-- A gateway's tools still go with it: the reference holds for the tools of no agent.
ALTER TABLE tools ADD COLUMN upstream_id text
    GENERATED ALWAYS AS (CASE WHEN agent_id IS NULL THEN gateway_id END) STORED
    REFERENCES gateways (id) ON DELETE CASCADE;
CREATE INDEX tools_upstream_id ON tools (upstream_id);
