"""URL fetching: pinned to checked addresses, redirects re-checked, capped, one deadline."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import pytest

from openrouter_image_mcp import __version__
from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.settings import PROJECT_URL
from openrouter_image_mcp.sources.fetch import resolve_host
from tests.sources.conftest import MakeLoader, Serve
from tests.sources.fakes import PNG, FakeResolver, ipv6_forms, make_tls_pair
from tests.sources.servers import Flood, drip, image, promise_only, raw_answer, redirect, send

PUBLIC = "93.184.216.34"
Handler = Callable[[httpx2.Request], httpx2.Response]


def recording(handler: Handler) -> tuple[httpx2.MockTransport, list[httpx2.Request]]:
    """A transport answering with `handler` that keeps every request it was sent."""
    seen: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return handler(request)

    return httpx2.MockTransport(record), seen


def streamed(status: int, body: bytes = b"", **headers: str) -> httpx2.Response:
    """A response as a network transport returns it: body not yet read."""
    return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(body))


def serve_png(request: httpx2.Request) -> httpx2.Response:
    return streamed(200, PNG)


async def failure_of(pending: Awaitable[object]) -> ToolFailure:
    with pytest.raises(ToolFailure) as failure:
        async with asyncio.timeout(10):  # generous bound; the assertions are about codes
            await pending
    return failure.value


# --- Real servers on 127.0.0.1 ------------------------------------------------------------


async def test_image_from_an_allowed_host(make_loader: MakeLoader, serve: Serve) -> None:
    server = await serve({"/cat.png": image(PNG)})
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    result = await loader.load(f"http://127.0.0.1:{server.port}/cat.png")
    assert (result.kind, result.data) == ("url", PNG)
    [(_, headers)] = server.requests
    assert headers["accept-encoding"] == "identity"


async def test_named_host_connects_to_the_address_it_was_checked_at(
    make_loader: MakeLoader, serve: Serve
) -> None:
    server = await serve({"/cat.png": image(PNG)})
    resolver = FakeResolver.fixed(img_test="127.0.0.1")
    loader = make_loader(allowed_hosts=["img.test"], resolver=resolver)
    assert (await loader.load(f"http://IMG.test:{server.port}/cat.png")).data == PNG
    assert resolver.calls == [("img.test", server.port)]
    assert server.requests[0][1]["host"] == f"img.test:{server.port}"


async def test_name_resolving_to_loopback_is_refused_unless_allowed(
    make_loader: MakeLoader, serve: Serve
) -> None:
    server = await serve({"/cat.png": image(PNG)})
    url = f"http://sneaky.test:{server.port}/cat.png"
    refused = make_loader(resolver=FakeResolver.fixed(sneaky_test="127.0.0.1"))
    failure = await failure_of(refused.load(url))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert "resolves to 127.0.0.1, which is a loopback address" in failure.message
    assert "add the host to IMAGE_MCP_ALLOWED_HOSTS" in failure.message
    assert server.requests == []
    allowed = make_loader(
        allowed_hosts=["sneaky.test"], resolver=FakeResolver.fixed(sneaky_test="127.0.0.1")
    )
    assert (await allowed.load(url)).data == PNG


async def test_redirect_to_a_private_target_is_refused(
    make_loader: MakeLoader, serve: Serve
) -> None:
    server = await serve({"/secret.png": image(b"secret")})
    server.routes["/start"] = redirect(f"http://127.0.0.1:{server.port}/secret.png")
    loader = make_loader(
        allowed_hosts=["img.test"], resolver=FakeResolver.fixed(img_test="127.0.0.1")
    )
    failure = await failure_of(loader.load(f"http://img.test:{server.port}/start"))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert server.paths() == ["/start"]


@pytest.mark.parametrize(("max_redirects", "ok"), [(3, True), (2, False)])
async def test_redirect_chains_are_capped(
    make_loader: MakeLoader, serve: Serve, max_redirects: int, ok: bool
) -> None:
    routes = {
        "/r0": redirect("/r1", "301 Moved Permanently"),
        "/r1": redirect("r2"),  # relative to /r1
        "/r2": redirect("/cat.png?v=2", "307 Temporary Redirect"),
        "/cat.png?v=2": image(PNG),
    }
    server = await serve(routes)
    loader = make_loader(allowed_hosts=["127.0.0.1"], max_redirects=max_redirects)
    url = f"http://127.0.0.1:{server.port}/r0"
    if ok:
        assert (await loader.load(url)).data == PNG
        return
    failure = await failure_of(loader.load(url))
    assert (failure.code, failure.retryable) == (ErrorCode.FETCH_FAILED, False)
    assert "redirected more than 2 times" in failure.message
    assert server.paths() == ["/r0", "/r1", "/r2"]


# Every scheme a Location header may name that is not http(s): none is followed.
OTHER_SCHEMES = [
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "DATA:image/svg+xml,<svg onload=alert(1)>", "data:,", "file:///etc/passwd",
    "file://localhost/etc/shadow", "ftp://127.0.0.1/x.png", "javascript:alert(document.domain)",
    "gopher://127.0.0.1:6379/_FLUSHALL", "dict://127.0.0.1:11211/stats", "mailto:a@b.test",
    "about:blank", "blob:https://a.test/uuid", "ws://127.0.0.1/socket", "wss://a.test/x",
    "ldap://127.0.0.1/", "jar:file:///x.jar!/", "view-source:http://a.test/", "tel:+100",
    "vbscript:msgbox(1)", "chrome://settings", "x-custom+scheme.v1:anything",
]  # fmt: skip


@pytest.mark.parametrize("location", OTHER_SCHEMES)
async def test_redirects_to_other_schemes_are_blocked(
    make_loader: MakeLoader, serve: Serve, location: str
) -> None:
    server = await serve({"/start": redirect(location)})
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/start"))
    scheme = location.split(":", 1)[0].lower()
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert f"127.0.0.1 redirected to a {scheme}: URL, which is not followed" in failure.message
    assert server.paths() == ["/start"]


async def test_fetches_say_who_is_asking(make_loader: MakeLoader, serve: Serve) -> None:
    server = await serve({"/cat.png": image(PNG)})
    await make_loader(allowed_hosts=["127.0.0.1"]).load(f"http://127.0.0.1:{server.port}/cat.png")
    [(_, headers)] = server.requests
    assert headers["user-agent"] == f"openrouter-image-mcp/{__version__} (+{PROJECT_URL})"
    assert PROJECT_URL.startswith("https://github.com/")


async def test_cookies_never_carry_over_to_a_later_fetch(
    make_loader: MakeLoader, serve: Serve
) -> None:
    async def set_cookie(writer: asyncio.StreamWriter) -> None:
        headers = {"Set-Cookie": "session=first-caller; Path=/", "Content-Length": str(len(PNG))}
        await send(writer, "200 OK", headers, PNG)

    server = await serve({"/a.png": set_cookie, "/b.png": image(PNG)})
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    for path in ("/a.png", "/b.png"):
        assert (await loader.load(f"http://127.0.0.1:{server.port}{path}")).data == PNG
    assert all("cookie" not in headers for _, headers in server.requests)


# What a hostile server can put into text a message quotes: terminal escapes, a bidi
# override (as UTF-8), a bell and a backspace; HTTP/1.1 lets all of them through.
HOSTILE_TEXT = "\x1b[31m\x1b]0;owned\x07\u202e\x08\x7f".encode()


@pytest.mark.parametrize(
    ("head", "quoted"),
    [
        (b"HTTP/1.1 404 Not" + HOSTILE_TEXT + b" Found" + HOSTILE_TEXT + b"\r\n",
         "127.0.0.1 answered HTTP 404 Not Found;"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: " + HOSTILE_TEXT + b"br\r\n",
         "127.0.0.1 sent the image br-compressed"),
    ],
    ids=["reason phrase", "header value"],
)  # fmt: skip
async def test_server_text_is_quoted_without_control_characters(
    make_loader: MakeLoader, serve: Serve, head: bytes, quoted: str
) -> None:
    server = await serve({"/x.png": raw_answer(head)})
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/x.png"))
    assert failure.code == ErrorCode.FETCH_FAILED
    assert quoted in failure.message
    assert failure.message.isprintable()


async def test_a_dripping_server_cannot_outlast_the_deadline(
    make_loader: MakeLoader, serve: Serve
) -> None:
    server = await serve({"/slow.png": drip(length=100, interval_s=0.2)})
    loader = make_loader(allowed_hosts=["127.0.0.1"], fetch_timeout_s=1)
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/slow.png"))
    assert (failure.code, failure.retryable) == (ErrorCode.FETCH_FAILED, True)
    assert "timed out after 1 s" in failure.message


async def test_declared_oversize_is_refused_before_reading_the_body(
    make_loader: MakeLoader, serve: Serve
) -> None:
    # The body never comes: a client that waited for it would end in the fetch deadline.
    server = await serve({"/huge.png": promise_only(64 << 20)})
    loader = make_loader(allowed_hosts=["127.0.0.1"], max_image_bytes=64 << 10)
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/huge.png"))
    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    assert "64 KiB" in failure.message


async def test_undeclared_oversize_stops_the_download_early(
    make_loader: MakeLoader, serve: Serve
) -> None:
    flood = Flood(total=64 << 20)
    server = await serve({"/huge.png": flood})
    loader = make_loader(allowed_hosts=["127.0.0.1"], max_image_bytes=64 << 10)
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/huge.png"))
    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE
    async with asyncio.timeout(10):
        await flood.done.wait()
    # Socket buffers absorb a few MiB at most; reading everything would send all 64 MiB.
    assert flood.sent < flood.total // 4


async def test_connection_refused_is_a_fetch_failure(make_loader: MakeLoader) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the fetch: nothing listens
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    failure = await failure_of(loader.load(f"http://127.0.0.1:{port}/cat.png"))
    assert failure.code == ErrorCode.FETCH_FAILED
    assert "could not connect to 127.0.0.1" in failure.message


async def test_a_body_cut_short_is_a_fetch_failure(make_loader: MakeLoader, serve: Serve) -> None:
    async def truncated(writer: asyncio.StreamWriter) -> None:
        await send(writer, "200 OK", {"Content-Length": "1000"}, PNG[:10])

    server = await serve({"/cut.png": truncated})
    loader = make_loader(allowed_hosts=["127.0.0.1"])
    failure = await failure_of(loader.load(f"http://127.0.0.1:{server.port}/cut.png"))
    assert (failure.code, failure.retryable) == (ErrorCode.FETCH_FAILED, True)
    assert "downloading the image from 127.0.0.1 failed" in failure.message


async def test_https_uses_the_real_name_for_sni_and_the_certificate(
    make_loader: MakeLoader, serve: Serve, tmp_path: Path
) -> None:
    good, wrong = make_tls_pair(tmp_path, "img.test"), make_tls_pair(tmp_path, "other.test")
    names: list[str | None] = []
    good.server.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    routes = {"/cat.png": image(PNG)}
    server, impostor = await serve(routes, good.server), await serve(routes, wrong.server)

    def loader_trusting(pair_client: ssl.SSLContext):
        return make_loader(
            allowed_hosts=["img.test"],
            resolver=FakeResolver.fixed(img_test="127.0.0.1"),
            transport=httpx2.AsyncHTTPTransport(verify=pair_client),
        )

    result = await loader_trusting(good.client).load(f"https://img.test:{server.port}/cat.png")
    assert (result.data, names) == (PNG, ["img.test"])
    # Same pinned address, but the certificate is for another name: refused.
    both = ssl.create_default_context()
    both.load_verify_locations(tmp_path / "img.test.crt")
    both.load_verify_locations(tmp_path / "other.test.crt")
    failure = await failure_of(
        loader_trusting(both).load(f"https://img.test:{impostor.port}/cat.png")
    )
    assert failure.code == ErrorCode.FETCH_FAILED
    assert "certificate" in failure.message.lower()


# --- Pinning and checks, observed through a transport -------------------------------------


async def test_dns_rebinding_cannot_move_the_connection(make_loader: MakeLoader) -> None:
    resolver = FakeResolver({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    transport, seen = recording(serve_png)
    loader = make_loader(resolver=resolver, transport=transport)
    assert (await loader.load("http://rebind.test/cat.png?size=2")).data == PNG
    assert resolver.calls == [("rebind.test", 80)]
    [request] = seen
    assert (str(request.url), request.headers["host"]) == (
        f"http://{PUBLIC}/cat.png?size=2",
        "rebind.test",
    )


async def test_every_hop_is_resolved_once_and_pinned(make_loader: MakeLoader) -> None:
    resolver = FakeResolver.fixed(a_test=PUBLIC, b_test="8.8.8.8")

    def hop(request: httpx2.Request) -> httpx2.Response:
        if request.headers["host"] == "a.test":
            return streamed(302, Location="https://b.test:8443/img")
        return serve_png(request)

    transport, seen = recording(hop)
    loader = make_loader(resolver=resolver, transport=transport)
    assert (await loader.load("http://a.test/start")).data == PNG
    assert resolver.calls == [("a.test", 80), ("b.test", 8443)]
    assert [str(request.url) for request in seen] == [
        f"http://{PUBLIC}/start",
        "https://8.8.8.8:8443/img",
    ]
    assert seen[1].headers["host"] == "b.test:8443"
    assert seen[1].extensions["sni_hostname"] == "b.test"


@pytest.mark.parametrize(
    "location",
    ["http://internal.test/x", "http://169.254.169.254/latest/meta-data/",
     "http://[::ffff:127.0.0.1]/", "http://0x7f.1/", "file:///etc/passwd", "ftp://a.test/x",
     "http://user:pw@a.test/x"],
)  # fmt: skip
async def test_redirects_are_checked_like_the_first_url(
    make_loader: MakeLoader, location: str
) -> None:
    resolver = FakeResolver.fixed(a_test=PUBLIC, internal_test="10.0.0.5")
    transport, seen = recording(lambda _: streamed(302, Location=location))
    failure = await failure_of(
        make_loader(resolver=resolver, transport=transport).load("http://a.test/x")
    )
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert len(seen) == 1


async def test_one_refused_address_refuses_the_host(make_loader: MakeLoader) -> None:
    resolver = FakeResolver({"mixed.test": [[PUBLIC, "10.0.0.5"]]})
    transport, seen = recording(serve_png)
    failure = await failure_of(
        make_loader(resolver=resolver, transport=transport).load("http://mixed.test/x.png")
    )
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert "10.0.0.5, which is a private address" in failure.message
    assert seen == []


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/",
     "http://10.1/", "http://[::1]/", "http://[fd00::1]:8080/", "HTTP://169.254.169.254/",
     "http://[64:ff9b::a9fe:a9fe]/"],
)  # fmt: skip
async def test_ip_literals_are_judged_by_value_without_dns(
    make_loader: MakeLoader, url: str
) -> None:
    resolver = FakeResolver({})
    failure = await failure_of(make_loader(resolver=resolver).load(url))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert resolver.calls == []


@pytest.mark.parametrize(
    ("url", "settings"),
    [
        ("http://user:pw@img.test/x.png", {}),
        ("https://vault.corp.test/x.png", {"allowed_hosts": ["*.corp.test"],
                                           "blocked_hosts": ["vault.corp.test"]}),
        ("https://corp.test/x.png", {"allowed_hosts": ["*.corp.test"]}),
    ],
)  # fmt: skip
async def test_host_lists_and_credentials_refuse_before_dns(
    make_loader: MakeLoader, url: str, settings: dict[str, object]
) -> None:
    resolver = FakeResolver({})
    failure = await failure_of(make_loader(resolver=resolver, **settings).load(url))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert resolver.calls == []


# A missing or forbidden image stays so; a busy or failing server may recover.
@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (403, False), (404, False), (410, False), (304, False), (408, True),
     (425, True), (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
async def test_error_statuses_name_the_status(
    make_loader: MakeLoader, status: int, retryable: bool
) -> None:
    transport, _ = recording(lambda _: streamed(status))
    loader = make_loader(resolver=FakeResolver.fixed(a_test=PUBLIC), transport=transport)
    failure = await failure_of(loader.load("https://a.test/x.png?token=SECRET"))
    assert (failure.code, failure.retryable) == (ErrorCode.FETCH_FAILED, retryable)
    assert f"a.test answered HTTP {status}" in failure.message
    assert "SECRET" not in failure.message


# --- Block lists: IPv4 inside IPv6, IDN spellings ------------------------------------------

PUBLIC_FORMS = {
    name: str(address) for name, address in ipv6_forms(ipaddress.IPv4Address(PUBLIC)).items()
} | {"mapped, dotted": f"::ffff:{PUBLIC}"}


@pytest.mark.parametrize("form", list(PUBLIC_FORMS))
async def test_a_blocked_ipv4_is_blocked_in_every_ipv6_literal(
    make_loader: MakeLoader, form: str
) -> None:
    url = f"http://[{PUBLIC_FORMS[form]}]/cat.png"
    transport, seen = recording(serve_png)
    assert (await make_loader(transport=transport).load(url)).data == PNG  # public otherwise
    blocked = make_loader(blocked_hosts=[PUBLIC], transport=transport)
    failure = await failure_of(blocked.load(url))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert "on this server's block list (IMAGE_MCP_BLOCKED_HOSTS)" in failure.message
    assert len(seen) == 1  # only the unblocked fetch


@pytest.mark.parametrize("form", list(PUBLIC_FORMS))
async def test_a_blocked_ipv4_is_blocked_in_every_ipv6_answer(
    make_loader: MakeLoader, form: str
) -> None:
    resolver = FakeResolver.fixed(img_test=PUBLIC_FORMS[form])
    transport, seen = recording(serve_png)
    loader = make_loader(blocked_hosts=[PUBLIC], resolver=resolver, transport=transport)
    failure = await failure_of(loader.load("https://img.test/cat.png"))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert f"img.test resolves to {ipaddress.ip_address(PUBLIC_FORMS[form])}" in failure.message
    assert f"{PUBLIC}, which is on this server's block list" in failure.message
    assert seen == []


async def test_block_list_addresses_hold_inside_an_allow_list(make_loader: MakeLoader) -> None:
    resolver = FakeResolver.fixed(img_corp_test="64:ff9b::a09:909")  # NAT64 of 10.9.9.9
    loader = make_loader(
        allowed_hosts=["*.corp.test"], blocked_hosts=["10.9.9.9"], resolver=resolver
    )
    failure = await failure_of(loader.load("http://img.corp.test/x.png"))
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert "an IPv6 form of 10.9.9.9, which is on this server's block list" in failure.message


IDN = "bücher.example"
IDN_ASCII = "xn--bcher-kva.example"
IDN_SPELLINGS = [IDN, "BÜCHER.example", "bücher\u3002example", IDN_ASCII, "XN--BCHER-KVA.EXAMPLE."]


@pytest.mark.parametrize("pattern", [IDN, IDN_ASCII, f"*.{IDN}"])
@pytest.mark.parametrize("spelling", IDN_SPELLINGS)
async def test_a_blocked_idn_is_blocked_in_every_spelling(
    make_loader: MakeLoader, pattern: str, spelling: str
) -> None:
    resolver = FakeResolver({})
    host = f"img.{spelling}" if pattern.startswith("*.") else spelling
    failure = await failure_of(
        make_loader(blocked_hosts=[pattern], resolver=resolver).load(f"https://{host}/x.png")
    )
    assert failure.code == ErrorCode.BLOCKED_HOST
    assert "is on this server's block list" in failure.message
    assert resolver.calls == []


@pytest.mark.parametrize("pattern", [IDN, IDN_ASCII])
@pytest.mark.parametrize("spelling", IDN_SPELLINGS)
async def test_an_allowed_idn_is_fetched_by_its_ascii_name(
    make_loader: MakeLoader, pattern: str, spelling: str
) -> None:
    resolver = FakeResolver({IDN_ASCII: [["10.0.0.7"]]})
    transport, seen = recording(serve_png)
    loader = make_loader(allowed_hosts=[pattern], resolver=resolver, transport=transport)
    assert (await loader.load(f"http://{spelling}/x.png")).data == PNG
    assert resolver.calls == [(IDN_ASCII, 80)]
    assert seen[0].headers["host"] == IDN_ASCII


@pytest.mark.parametrize("host", ["\u202eevil.test", "a..bü.test", "my_ü.test"])
async def test_a_name_idna_cannot_encode_is_invalid_input(
    make_loader: MakeLoader, host: str
) -> None:
    resolver = FakeResolver({})
    failure = await failure_of(make_loader(resolver=resolver).load(f"https://{host}/x.png"))
    assert failure.code == ErrorCode.INVALID_INPUT
    assert "malformed host name" in failure.message
    assert resolver.calls == []


async def test_dns_failure_is_a_fetch_failure_without_the_query(make_loader: MakeLoader) -> None:
    failure = await failure_of(
        make_loader(resolver=FakeResolver({})).load("https://gone.test/x.png?token=SECRET")
    )
    assert failure.code == ErrorCode.FETCH_FAILED
    assert "could not resolve the host name gone.test" in failure.message
    assert "SECRET" not in failure.message


async def test_compressed_bodies_are_refused(make_loader: MakeLoader) -> None:
    transport, _ = recording(
        lambda _: streamed(200, b"\x1f\x8b...", **{"Content-Encoding": "gzip"})
    )
    loader = make_loader(resolver=FakeResolver.fixed(a_test=PUBLIC), transport=transport)
    failure = await failure_of(loader.load("https://a.test/x.png"))
    assert failure.code == ErrorCode.FETCH_FAILED
    assert "gzip" in failure.message


@pytest.mark.parametrize(
    "url", ["http://", "http:///x.png", "http://[::1/", "http://a.test:99999/"]
)
async def test_malformed_urls_are_invalid_input(make_loader: MakeLoader, url: str) -> None:
    failure = await failure_of(make_loader(resolver=FakeResolver({})).load(url))
    assert failure.code == ErrorCode.INVALID_INPUT


async def test_default_resolver_uses_the_system_resolver() -> None:
    assert set(await resolve_host("localhost", 80)) & {"127.0.0.1", "::1"}
