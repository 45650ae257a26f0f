-- Resources, resource templates and prompts of each gateway, and virtual servers' share of them.
-- Resources keep the upstream's uri (clients follow links found in tool results); prompts get an
-- exposed name like tools. Definitions are the upstream's JSON as listed.

CREATE TABLE resources (
    id         text PRIMARY KEY,
    gateway_id text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    uri        text NOT NULL,
    definition jsonb NOT NULL,
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Two gateways may list one uri; resources/read goes to the first registered.
    CONSTRAINT resources_gateway_uri_key UNIQUE (gateway_id, uri)
);

CREATE INDEX resources_uri ON resources (uri);

CREATE TABLE resource_templates (
    id           text PRIMARY KEY,
    gateway_id   text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    uri_template text NOT NULL,
    definition   jsonb NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resource_templates_gateway_template_key UNIQUE (gateway_id, uri_template)
);

CREATE TABLE prompts (
    id            text PRIMARY KEY,
    gateway_id    text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    name          text NOT NULL,
    original_name text NOT NULL,
    definition    jsonb NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompts_name_key UNIQUE (name),
    CONSTRAINT prompts_gateway_original_key UNIQUE (gateway_id, original_name)
);

-- A server's resources, templates and prompts, in the order given; deletions cascade.
CREATE TABLE server_resources (
    server_id   text NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    resource_id text NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    PRIMARY KEY (server_id, resource_id)
);

CREATE TABLE server_resource_templates (
    server_id   text NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    template_id text NOT NULL REFERENCES resource_templates (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    PRIMARY KEY (server_id, template_id)
);

CREATE TABLE server_prompts (
    server_id text NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    prompt_id text NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    PRIMARY KEY (server_id, prompt_id)
);

CREATE INDEX server_resources_resource_id ON server_resources (resource_id);
CREATE INDEX server_resource_templates_template_id ON server_resource_templates (template_id);
CREATE INDEX server_prompts_prompt_id ON server_prompts (prompt_id);
