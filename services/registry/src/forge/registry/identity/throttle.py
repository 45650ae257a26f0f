"""Sign-in throttling: per account, per source address and per device cookie, with a backoff
that decays.

A hard lock after N failures let anyone lock any account (the admin's included), and its 429 told
which emails exist. Instead every key, known email or not, counts consecutive failures: the first
`free` cost nothing, then each further one closes the key for base, 2 x base, 4 x base ... up to
max seconds; the count halves after every `login_failure_decay_s` without a failure. A closed key
answers 429 before any password is looked at, the same for every email. Which keys a sign-in
meets (OWASP "device cookies"):

- without a device cookie: the account (every failure counts, from whichever address, so
  guesses at one account are bounded however many addresses an attacker holds) and the source
  address (a far larger budget, `login_source_free_failures`: a NAT or proxy shares it);
- with a device cookie the edge vouched for (issued to this account at an earlier success):
  that cookie alone. A stranger closing the account never locks out a client that signed in
  before, and a stolen cookie guesses no faster than the account's own budget.
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


def device_key(device: str) -> str:
    """The key of one device cookie (its random id): failures of its holder count here only."""
    return "device:" + device[:MAX_KEY]


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
    def of(cls, config: RegistryConfig, free: int | None = None) -> Backoff:
        return cls(
            max(0, config.login_free_failures if free is None else free),
            max(0.0, config.login_backoff_base_s),
            max(0.0, config.login_backoff_max_s),
            max(0.001, config.login_failure_decay_s),
        )

    @classmethod
    def of_source(cls, config: RegistryConfig) -> Backoff:
        return cls.of(config, config.login_source_free_failures)

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


@dataclass(frozen=True)
class Keys:
    """The keys one attempt is throttled by and counts its failure on."""

    account: str
    source: str | None = None  # None with a device cookie, and for password changes
    device: str | None = None  # set: the account's lock does not apply, this key does

    @property
    def counted(self) -> tuple[str, ...]:
        if self.device is not None:
            return (self.device,)
        return (self.account,) if self.source is None else (self.account, self.source)


def sign_in_keys(email: str, client_ip: str | None, device: str | None) -> Keys:
    """A vouched-for device cookie replaces the account's and the address's keys by its own."""
    if device is not None:
        return Keys(account_key(email), None, device_key(device))
    return Keys(account_key(email), source_key(client_ip))


async def check(ctx: Context, keys: Keys) -> None:
    """429 when any key the attempt is throttled by is closed; the longest wait is told."""
    now, config = ctx.now(), ctx.config
    limits = {key: Backoff.of(config) for key in keys.counted}
    if keys.source is not None:
        limits[keys.source] = Backoff.of_source(config)
    async with ctx.store.read() as tx:
        found = await throttle.states(tx, list(limits))
    waits = [
        backoff.wait(*found.get(key, (0, now)), now) for key, backoff in sorted(limits.items())
    ]
    if max(waits, default=0.0) > 0:
        raise _refuse(max(waits))


async def failed(ctx: Context, keys: Keys) -> None:
    async with ctx.store.tx() as tx:
        await throttle.failed(tx, keys.counted, ctx.now(), Backoff.of(ctx.config).decay_s)


async def succeeded(ctx: Context, keys: Keys) -> None:
    """A success ends the run of the account (or of the device cookie it came with); never an
    address's, which others behind it may share."""
    await forget(ctx, keys.device or keys.account)


async def forget(ctx: Context, key: str) -> None:
    """A success (or a new password) ends the key's run of failures."""
    async with ctx.store.tx() as tx:
        await throttle.clear(tx, key)
