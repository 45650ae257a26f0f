-- The identity registry: users, teams, memberships, invitations, roles, role bindings, API
-- tokens, JWT revocations and the audit log. Ids are text (uuid4 hex), so any id a caller sends
-- is a harmless lookup. Built-in roles are written (and kept in step with the code) by the
-- registry's bootstrap at start, not here.

CREATE TABLE teams (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text,
    personal    boolean NOT NULL DEFAULT false,  -- every user's own team; never deleted alone
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Shared teams are found by name (SSO group mapping); personal teams are named after their user.
CREATE UNIQUE INDEX teams_name_key ON teams (name) WHERE NOT personal;

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,  -- lower case
    full_name     text,
    password_hash text,           -- Argon2id; NULL: no usable password (SSO-only, unset admin)
    active        boolean NOT NULL DEFAULT true,
    auth_provider text NOT NULL DEFAULT 'local',
    personal_team text REFERENCES teams (id) ON DELETE SET NULL,
    failed_logins integer NOT NULL DEFAULT 0,  -- consecutive, reset by a success or a lockout
    locked_until  timestamptz,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE team_members (
    team_id      text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'member')),
    -- Set when an SSO login added the membership, so a later login without the group removes it.
    sso_provider text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE invitations (
    id         text PRIMARY KEY,
    team_id    text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'member')),
    token_hash text NOT NULL,  -- sha256 hex of the raw token, which is shown once
    invited_by text NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX invitations_team_idx ON invitations (team_id);

CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text,
    permissions text[] NOT NULL DEFAULT '{}',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_bindings (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    team_id    text REFERENCES teams (id) ON DELETE CASCADE,  -- NULL: a global binding
    granted_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX role_bindings_key ON role_bindings (user_id, role, coalesce(team_id, ''));
CREATE INDEX role_bindings_role_idx ON role_bindings (role);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    token_hash   text NOT NULL,  -- sha256 hex of the raw token, which is shown once
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    teams        text[] NOT NULL DEFAULT '{}',
    server_id    text,
    permissions  text[] NOT NULL DEFAULT '{}',
    cidrs        text[] NOT NULL DEFAULT '{}',
    window_start text,
    window_end   text,
    window_days  integer[] NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    use_count    bigint NOT NULL DEFAULT 0,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE revocations (
    jti        text PRIMARY KEY,
    expires_at timestamptz,  -- kept until the token would have expired anyway
    reason     text,
    revoked_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text,
    details jsonb NOT NULL DEFAULT '{}'  -- never a secret
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
