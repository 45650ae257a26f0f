-- Per-team, per-tool plugin bindings: the plugin-runner merges them over its configuration file.
-- team_id is both the team the binding applies to and the team that sees it (NULL: every team,
-- a platform admin's binding); tool is an exposed tool name or a shell pattern (NULL: any tool).

CREATE TABLE plugin_bindings (
    id          text PRIMARY KEY,
    plugin      text NOT NULL,
    team_id     text,
    tool        text,
    mode        text,
    config      jsonb NOT NULL DEFAULT '{}',
    priority    integer,
    owner       text,
    visibility  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plugin_bindings_mode_check CHECK (
        mode IS NULL OR mode IN ('enforce', 'enforce_ignore_error', 'permissive', 'audit', 'disabled')
    ),
    CONSTRAINT plugin_bindings_visibility_check
        CHECK (visibility IN ('private', 'team', 'public') AND (visibility <> 'team' OR team_id IS NOT NULL))
);

-- One binding per plugin, team and tool: the runner names its entry after these three.
CREATE UNIQUE INDEX plugin_bindings_scope_key
    ON plugin_bindings (plugin, COALESCE(team_id, ''), COALESCE(tool, ''));
CREATE INDEX plugin_bindings_team_id ON plugin_bindings (team_id);
