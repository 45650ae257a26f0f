-- Gateway and server names are unique per team, no longer across the catalog: a clash with
-- another team's entry told the caller that a name they cannot see exists. An entry without a
-- team (stored before ownership, or made by a caller without any team) is unique per owner.
-- Gateway slugs stay unique across the catalog (they prefix exposed tool and prompt names): a
-- name whose slug another gateway holds gets the first free `<slug>-<n>` instead.

ALTER TABLE gateways DROP CONSTRAINT gateways_name_key;
CREATE UNIQUE INDEX gateways_name_key
    ON gateways (COALESCE(team_id, 'owner:' || COALESCE(owner, '')), name);

ALTER TABLE servers DROP CONSTRAINT servers_name_key;
CREATE UNIQUE INDEX servers_name_key
    ON servers (COALESCE(team_id, 'owner:' || COALESCE(owner, '')), name);
