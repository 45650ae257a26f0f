-- How a virtual server names what it holds: with original_names its endpoint exposes tools and
-- prompts under their upstream's own names instead of `<gateway slug>-<name>`; aliases (tool or
-- prompt id -> name) win over both. Names stay unique per kind within a server, which the
-- registry checks at composition (the entries' names live in other rows).

ALTER TABLE servers ADD COLUMN original_names boolean NOT NULL DEFAULT false;
ALTER TABLE servers ADD COLUMN aliases jsonb NOT NULL DEFAULT '{}'::jsonb;
