"""Sign-in throttling: per source address and per account, with a backoff that decays.

A hard lock after N failures let anyone lock any account (the admin's included) for as long as
they kept trying, and its 429 told which emails exist. Instead every key, known email or not,
counts consecutive failures: the first `login_free_failures` cost nothing, then each further
one closes the key for base, 2 x base, 4 x base ... up to max seconds; the count halves after
every `login_failure_decay_s` without a failure. A closed key answers 429 before any password
is looked at, the same for every email:

- a source address whose own failures closed it is refused, whatever account it tries;
- an account closed by failures is refused only to sources that failed themselves lately:
  a source with a clean record (the real owner, elsewhere) is still heard, so failures from
  other addresses never lock its owner out, while an address that guesses gets one try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forge.core.errors import TooManyRequestsError
from forge.registry.config import RegistryConfig
from forge.registry.identity.context import Context
from forge.registry.identity.tables import throttle

MAX_KEY = 320  # a key names an email or an address: longer input is cut, never refused here


def source_key(client_ip: str | None) -> str:
    return "source:" + (client_ip or "unknown")[:MAX_KEY]


def account_key(email: str) -> str:
    """The key of whatever email was typed, so that unknown emails are throttled alike."""
    return "account:" + email.strip().lower()[:MAX_KEY]


def password_key(email: str) -> str:
    """Password changes of a signed-in user: only they can fail them, so only they wait."""
    return "password:" + email


@dataclass(frozen=True)
class Backoff:
    free: int
    base_s: float
    max_s: float
    decay_s: float

    @classmethod
    def of(cls, config: RegistryConfig) -> Backoff:
        return cls(
            max(0, config.login_free_failures),
            max(0.0, config.login_backoff_base_s),
            max(0.0, config.login_backoff_max_s),
            max(0.001, config.login_failure_decay_s),
        )

    def count(self, failures: int, last: float, now: float) -> int:
        """Consecutive failures as of `now`: halved for every decay interval since the last."""
        halvings = max(0, math.floor((now - last) / self.decay_s))
        return failures >> min(halvings, 30)

    def wait(self, failures: int, last: float, now: float) -> float:
        """Seconds the key stays closed after its `failures`-th failure at `last`."""
        if failures < self.free or failures <= 0:
            return 0.0
        delay = min(self.max_s, self.base_s * 2.0 ** min(failures - self.free, 30))
        return max(0.0, last + delay - now)


def _refuse(wait: float) -> TooManyRequestsError:
    # Rounded first: the database keeps microseconds, so 2 s may come back as 2.0000004.
    retry = max(1, math.ceil(round(wait, 3)))
    return TooManyRequestsError(
        f"too many failed sign-ins: try again in {retry} s", {"retry_after_s": retry}
    )


async def check(ctx: Context, source: str | None, account: str) -> None:
    """429 when the source is closed, or the account is and the source failed lately."""
    backoff, now = Backoff.of(ctx.config), ctx.now()
    keys = [account] if source is None else [source, account]
    async with ctx.store.read() as tx:
        found = await throttle.states(tx, keys)
    src_failures, src_last = found.get(source or "", (0, now))
    if source is not None:
        wait = backoff.wait(src_failures, src_last, now)
        if wait > 0:
            raise _refuse(wait)
    acc_failures, acc_last = found.get(account, (0, now))
    wait = backoff.wait(acc_failures, acc_last, now)
    if wait > 0 and (source is None or backoff.count(src_failures, src_last, now) > 0):
        raise _refuse(wait)


async def failed(ctx: Context, *keys: str | None) -> None:
    async with ctx.store.tx() as tx:
        counted = [key for key in keys if key is not None]
        await throttle.failed(tx, counted, ctx.now(), Backoff.of(ctx.config).decay_s)


async def forget(ctx: Context, key: str) -> None:
    """A success (or a new password) ends the key's run of failures."""
    async with ctx.store.tx() as tx:
        await throttle.clear(tx, key)
