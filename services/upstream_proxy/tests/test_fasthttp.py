"""The lean HTTP client against a raw HTTP/1.1 peer that answers slowly, in pieces, or unasked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from forge.core.aiohttp_dialer import Dialer
from forge.core.netguard import NetGuard
from forge.upstream_proxy.transports.fasthttp import FastHttp

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
ENDED: list[bytes] = []  # the last path asked on each connection the client closed


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Per request path: /pieces (chunked, in three writes), /unasked (then bytes nobody asked
    for), /glued (a second answer right after the first), /silent (never answers); the
    connection is kept alive."""
    path = b""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            ENDED.append(path)
            break
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        path = head.split(b" ", 2)[1]
        if path == b"/silent":
            continue
        writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        for piece in (b'{"a":', b'"b"}'):
            await asyncio.sleep(0.01)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        end = b"0\r\n\r\n"
        if path == b"/glued":  # a second answer in the same write as the first one's end
            end += b"HTTP/1.1 500 Oops\r\nX-Second: yes\r\nContent-Length: 2\r\n\r\nno"
        writer.write(end)
        if path == b"/unasked":
            await asyncio.sleep(0.01)
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    writer.close()


@pytest.fixture
async def peer() -> AsyncIterator[str]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()


def _client(url: str) -> FastHttp:
    return FastHttp(url + "/pieces", "'peer'", Dialer(NetGuard("127.0.0.0/8"), 5))


async def test_a_body_in_pieces_is_read_whole_and_the_connection_kept(peer: str) -> None:
    client = _client(peer)
    async with client.post(peer + "/pieces", data=b"{}", headers={}) as response:
        assert response.status == 200
        assert response.headers.get("content-type") == "application/json"
        assert await response.read() == b'{"a":"b"}'
    kept = client.idle[0]
    async with client.post(peer + "/pieces", data=b"{}", headers={}) as response:
        assert b"".join([chunk async for chunk in response.content.iter_any()]) == b'{"a":"b"}'
    assert client.idle == [kept]
    client.close()


async def test_bytes_nobody_asked_for_retire_the_connection(peer: str) -> None:
    client = _client(peer)
    async with client.post(peer + "/unasked", data=b"{}", headers={}) as response:
        assert await response.read() == b'{"a":"b"}'
    [spoiled] = client.idle
    await asyncio.sleep(0.1)  # the 408 arrives on the idle connection
    async with client.post(peer + "/pieces", data=b"{}", headers={}) as response:
        assert await response.read() == b'{"a":"b"}'
    assert client.idle and client.idle[0] is not spoiled
    client.close()


async def test_a_second_answer_in_the_same_read_neither_spoils_the_first_nor_is_kept(
    peer: str,
) -> None:
    client = _client(peer)
    async with client.post(peer + "/glued", data=b"{}", headers={}) as response:
        assert await response.read() == b'{"a":"b"}'
        assert response.status == 200
        assert response.headers.get("x-second") is None
    assert client.idle == []
    client.close()


async def test_a_request_given_up_before_its_answer_closes_its_connection(peer: str) -> None:
    client = _client(peer)
    ENDED.clear()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            async with client.post(peer + "/silent", data=b"{}", headers={}):
                pass
    assert client.idle == []
    await asyncio.sleep(0.05)
    assert ENDED == [b"/silent"]  # closed, not left open with an answer pending
    async with client.post(peer + "/pieces", data=b"{}", headers={}) as response:
        assert await response.read() == b'{"a":"b"}'
    client.close()
