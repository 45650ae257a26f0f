"""How long what callers store may be: the limits every registry operation's params carry.

Checked as the params are decoded (msgspec `Meta`), so an oversized value is refused with
-32602 (REST: 422) before a handler runs, and never reaches PostgreSQL or every later listing
of the catalog. The registry's README states them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_NAME = 255  # a display name, a tag, a team, role or token name, a full name
MAX_EMAIL = 254  # RFC 5321's path limit, less the brackets
MAX_DESCRIPTION = 2000
MAX_URL = 2048
MAX_ID = 255  # an entity id or a slug named in params
MAX_SECRET = 8192  # a password, token, client secret or header value (a long JWT fits)
MAX_TAGS = 64
MAX_ITEMS = 1000  # ids in a list: a server's associated tools, a token's teams
MAX_HEADERS = 64  # entries in a header map
MAX_HEADER_NAME = 256
MAX_ENV = 128  # entries in a stdio gateway's environment
MAX_ENV_NAME = 128
MAX_ENV_VALUE = 32_768
MAX_ARGS = 64  # argv entries of a stdio gateway's command
MAX_ARG = 4096

Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
Email = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL)]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION)]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID)]
Secret = Annotated[str, msgspec.Meta(max_length=MAX_SECRET)]
Tags = Annotated[list[Name], msgspec.Meta(max_length=MAX_TAGS)]
Ids = Annotated[list[Id], msgspec.Meta(max_length=MAX_ITEMS)]
Names = Annotated[list[Name], msgspec.Meta(max_length=MAX_ITEMS)]
Aliases = Annotated[dict[Id, Name], msgspec.Meta(max_length=MAX_ITEMS)]  # entry ref -> name
HeaderMap = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=MAX_HEADER_NAME)], Secret],
    msgspec.Meta(max_length=MAX_HEADERS),
]
Env = Annotated[
    dict[
        Annotated[str, msgspec.Meta(max_length=MAX_ENV_NAME)],
        Annotated[str, msgspec.Meta(max_length=MAX_ENV_VALUE)],
    ],
    msgspec.Meta(max_length=MAX_ENV),
]
Command = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=MAX_ARG)]], msgspec.Meta(max_length=MAX_ARGS)
]
