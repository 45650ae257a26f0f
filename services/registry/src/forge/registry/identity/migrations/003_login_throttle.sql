-- Failed sign-ins are throttled per key (a source address, an account's email, a user's
-- password changes) with a backoff that grows with consecutive failures and decays, instead of
-- the hard lock an anonymous caller could set on any account (and which told known emails from
-- unknown ones). Keys of unknown emails are kept exactly like those of known ones.

CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,            -- consecutive, as of last_failure (decays after)
    last_failure timestamptz NOT NULL
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure);

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
