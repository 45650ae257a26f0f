-- Ownership and visibility of every catalog entity, and sealed upstream credentials.
-- Entries that existed before were visible to everyone: they stay public, without an owner.
-- The 'public' default only backfills them; new rows always say who owns them and who sees them.

ALTER TABLE gateways
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public',
    -- UpstreamAuth.type in clear (the REST view shows it); the rest only sealed (AES-GCM).
    ADD COLUMN auth_type  text NOT NULL DEFAULT 'none',
    ADD COLUMN auth       text;

ALTER TABLE tools
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public';

ALTER TABLE resources
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public';

ALTER TABLE resource_templates
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public';

ALTER TABLE prompts
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public';

ALTER TABLE servers
    ADD COLUMN owner      text,
    ADD COLUMN team_id    text,
    ADD COLUMN visibility text NOT NULL DEFAULT 'public';

ALTER TABLE gateways ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE tools ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE resources ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE resource_templates ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE prompts ALTER COLUMN visibility DROP DEFAULT;
ALTER TABLE servers ALTER COLUMN visibility DROP DEFAULT;

-- Team visibility without a team would hide the entry from everyone but its owner, silently.
ALTER TABLE gateways ADD CONSTRAINT gateways_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));
ALTER TABLE tools ADD CONSTRAINT tools_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));
ALTER TABLE resources ADD CONSTRAINT resources_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));
ALTER TABLE resource_templates ADD CONSTRAINT resource_templates_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));
ALTER TABLE prompts ADD CONSTRAINT prompts_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));
ALTER TABLE servers ADD CONSTRAINT servers_visibility_check
    CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL));

CREATE INDEX gateways_team_id ON gateways (team_id);
CREATE INDEX servers_team_id ON servers (team_id);
