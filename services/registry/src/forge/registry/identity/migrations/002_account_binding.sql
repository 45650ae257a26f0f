-- Tokens are bound to the account, not only its email: JWTs issued before `tokens_since` are
-- refused by the edge. It starts at the account's creation (a recreated email starts afresh)
-- and moves on whenever the account is deactivated or reactivated (its sessions end).

ALTER TABLE users ADD COLUMN tokens_since timestamptz;
UPDATE users SET tokens_since = created_at;
ALTER TABLE users ALTER COLUMN tokens_since SET NOT NULL;
ALTER TABLE users ALTER COLUMN tokens_since SET DEFAULT now();
