-- The catalog: upstream gateways, their tools, and virtual servers composed of tools.
-- Ids are text (uuid4 hex) so that any id a caller sends is a harmless lookup, never a cast error.

CREATE TABLE gateways (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    slug             text NOT NULL,
    url              text NOT NULL,
    transport        text NOT NULL,
    description      text,
    enabled          boolean NOT NULL DEFAULT true,
    reachable        boolean NOT NULL DEFAULT true,
    protocol_version text,
    capabilities     jsonb NOT NULL DEFAULT '{}',
    server_info      jsonb NOT NULL DEFAULT '{}',
    timeout_s        double precision,
    tags             jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateways_name_key UNIQUE (name),
    -- Two names with one slug would expose colliding tool names.
    CONSTRAINT gateways_slug_key UNIQUE (slug)
);

CREATE TABLE tools (
    id            text PRIMARY KEY,
    gateway_id    text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    name          text NOT NULL,
    original_name text NOT NULL,
    definition    jsonb NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tools_name_key UNIQUE (name),
    CONSTRAINT tools_gateway_original_key UNIQUE (gateway_id, original_name)
);

CREATE TABLE servers (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text,
    enabled     boolean NOT NULL DEFAULT true,
    tags        jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT servers_name_key UNIQUE (name)
);

-- A server's tools, in the order given; a deleted tool leaves every server by cascade.
CREATE TABLE server_tools (
    server_id text NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    tool_id   text NOT NULL REFERENCES tools (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    PRIMARY KEY (server_id, tool_id)
);

CREATE INDEX server_tools_tool_id ON server_tools (tool_id);
