"""The egress policy through both of its guards: tool webhooks and knowledge-base URL sources.

Every hostile form must be refused by `SsrfGuard.check` (RefusedDestinationError) and by
`SourceReader.check` (SourceError), never crash either. The fake resolver answers a public
address for any name it does not know, so a numeric or malformed host that reached it instead
of being refused by the guard itself would pass, and the test would fail.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from switchboard_api.egress import EgressPolicy, embedded, parse_address
from switchboard_api.voiceagent import HttpToolSpec, ToolParameters, ToolSpec
from switchboard_gateway.tools.ssrf import RefusedDestinationError, SsrfGuard
from switchboard_gateway.tools.webhooks import ToolRunner
from switchboard_indexer.sources import SourceError, SourceReader

pytestmark = pytest.mark.unit

PUBLIC = "93.184.216.34"
NAMES = {
    "localhost": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "rebind.test": [PUBLIC, "10.0.0.7"],
    "v6-metadata.test": ["fd00:ec2::254"],
    "sixtofour.test": ["2002:a9fe:a9fe::1"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
    "teredo.test": ["2001:0:4136:e378:8000:63bf:5601:5601"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "garbage.test": ["not-an-address"],
    "nothing.test": [],
}


def _resolve(host: str, port: int) -> list[str]:
    return NAMES.get(host, [PUBLIC])


async def _resolve_async(host: str, port: int) -> list[str]:
    return _resolve(host, port)


def _numeric_forms(dotted: str) -> list[str]:
    """The spellings `getaddrinfo`/`inet_aton` accept for one IPv4 address."""
    value, octets = int(ipaddress.IPv4Address(dotted)), [int(o) for o in dotted.split(".")]
    return [
        dotted,
        f"{dotted}.",
        str(value),
        hex(value),
        f"0{value:o}",
        ".".join(f"0{o:o}" for o in octets),
        ".".join(hex(o) for o in octets),
        f"{octets[0]}.{octets[1]}.{value & 0xFFFF}",
        f"{octets[0]}.{value & 0xFFFFFF}",
        f"{hex(octets[0])}.{octets[1]}.{octets[2]}.{octets[3]:03d}",
    ]


_IPV4 = ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "192.0.0.192"]
_IPV4_MORE = [
    "172.16.0.1",
    "172.31.255.254",
    "169.254.1.1",
    "0.0.0.0",  # noqa: S104
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.1",
    "198.18.0.1",
    "240.0.0.1",
    "192.0.0.1",
    "192.0.2.1",
    "127.255.255.254",
]
_IPV6 = [
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fd00:ec2::254",
    "ff02::1",
    "fec0::1",
    "100::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::169.254.169.254",
    "::192.0.0.192",
    "2002:7f00:1::",  # 6to4
    "2002:a9fe:a9fe::",
    "2002:a00:1::1",
    "2002:c0a8:101:1::1",
    "2002:c000:c0::",
    "2002:6440:1::",
    "64:ff9b::7f00:1",  # NAT64
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b::c0a8:101",
    "64:ff9b::c000:c0",
    "64:ff9b:1::7f00:1",  # local-use NAT64, /96 position
    "64:ff9b:1:7f00:0:100::",  # local-use NAT64, /48 position
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1, client 8.8.8.8
]
_NAMED = [f"http://{name}/" for name in NAMES] + ["http://user@localhost/"]
_MALFORMED = [
    "http://127.0.0.1:80:81/x",
    "http://[::1",
    "http://[::1]x/",
    "http://[::1]]/",
    "http://[[::1]/",
    "http://[1.2.3.4]/",
    "http://[v1.x]/",
    "http://[fe80::1%25eth0]/",
    "http://",
    "http:///x",
    "http://:80/",
    "http://example.com:/",
    "http://example.com:0/",
    "http://example.com:65536/",
    "http://example.com:-1/",
    "http://example.com:99999999999/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "example.com/x",
    "//example.com/x",
    "http://evil@127.0.0.1/",
    "http://127.0.0.1@evil.example/",
    "http://user:pass@example.com/",
    "http://127.0.0.1\\@evil.example/",
    "http://exa mple.com/",
    "http://example.com\t/",
    "http://ex%61mple.com/",
    "http://example.com./",
    "http://-bad-.example/",
    "http://a..b.example/",
    "http://ex_ample.com/",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",  # fullwidth
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
    "http://foo.123/",
    "http://example.0x7f/",
]
HOSTILE = (
    [f"http://{form}/" for dotted in _IPV4 for form in _numeric_forms(dotted)]
    + [f"http://{dotted}:8080/x" for dotted in _IPV4_MORE]
    + [f"http://[{address}]/" for address in _IPV6]
    + [f"https://[{address}]:8443/" for address in _IPV6[10:20]]
    + _NAMED
    + _MALFORMED
)
PERMITTED = [
    f"http://{PUBLIC}/",
    "https://8.8.8.8:8443/x",
    "http://api.example.com/hook",
    "http://[2606:4700:4700::1111]/",
    "http://[2002:808:808::1]/",  # 6to4 wrapping 8.8.8.8
    "http://[64:ff9b::808:808]/",  # NAT64 wrapping 8.8.8.8
    "http://[::ffff:8.8.8.8]/",
    "http://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/",  # Teredo: 65.54.227.120 and 8.8.8.8
]


def _webhook_guard(allow: list[str], url: str) -> object:
    return asyncio.run(SsrfGuard(allow, resolve=_resolve_async).check(url))


def _source_guard(allow: list[str], url: str) -> object:
    reader = SourceReader(max_bytes=1000, egress=EgressPolicy(allow), resolve=_resolve)
    return reader.check(url)


def test_the_corpus_is_large_and_has_no_duplicates() -> None:
    assert len(HOSTILE) >= 100
    assert len(set(HOSTILE)) == len(HOSTILE)


ALLOW_ALL = ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("allow", [[], ALLOW_ALL], ids=["no-allow-list", "allow-all"])
@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_forms_are_refused_by_both_guards(url: str, allow: list[str]) -> None:
    with pytest.raises(RefusedDestinationError):
        _webhook_guard(allow, url)
    with pytest.raises(SourceError):
        _source_guard(allow, url)


@pytest.mark.parametrize("url", PERMITTED)
def test_public_destinations_pass_both_guards(url: str) -> None:
    _webhook_guard([], url)
    _source_guard([], url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://[2002:a00:1::]/",
        "http://[64:ff9b::a00:1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    ],
)
def test_an_allowed_private_cidr_lets_its_embedded_addresses_through(url: str) -> None:
    _webhook_guard(["10.0.0.0/8"], url)
    _source_guard(["10.0.0.0/8"], url)
    with pytest.raises(RefusedDestinationError):
        _webhook_guard(["172.16.0.0/12"], url)


@pytest.mark.parametrize(
    ("allow", "url"),
    [
        (["10.0.0.0/8"], "http://[2002:7f00:1::]/"),  # the embedded address is not allowed
        (["2002::/16"], "http://[2002:a00:1::]/"),  # the wrapper is never what is matched
        (["64:ff9b::/96"], "http://[64:ff9b::7f00:1]/"),
        (["0.0.0.0/0", "::/0"], "http://169.254.169.254/"),  # metadata, whatever the list
        (["0.0.0.0/0", "::/0"], "http://[fd00:ec2::254]/"),
        (["0.0.0.0/0", "::/0"], "http://[::ffff:169.254.169.254]/"),
        (["0.0.0.0/0", "::/0"], "http://[2002:a9fe:a9fe::]/"),
        (["0.0.0.0/0", "::/0"], "http://[64:ff9b::a9fe:a9fe]/"),
        (["169.254.0.0/16"], "http://metadata.test/"),
    ],
)
def test_the_allow_list_matches_embedded_addresses_and_never_opens_metadata(
    allow: list[str], url: str
) -> None:
    with pytest.raises(RefusedDestinationError):
        _webhook_guard(allow, url)
    with pytest.raises(SourceError):
        _source_guard(allow, url)


@pytest.mark.parametrize(
    "allow", [ALLOW_ALL, ["0.0.0.0/1", "128.0.0.0/1"], ["8.0.0.0/5"], ["10.0.0.0/7"], ["::/1"]]
)
def test_broad_entries_open_no_private_space(allow: list[str]) -> None:
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://[2002:a00:1::]/", "http://10.1.2.3/"):
        with pytest.raises(RefusedDestinationError):
            _webhook_guard(allow, url)
        with pytest.raises(SourceError):
            _source_guard(allow, url)
    _webhook_guard(allow, f"http://{PUBLIC}/")


@pytest.mark.parametrize(
    ("allow", "url"),
    [
        (["127.0.0.0/8"], "http://127.0.0.1/"),
        (["::1/128"], "http://[::1]/"),
        (["10.20.0.0/16"], "http://10.20.3.4/"),
        (["10.20.0.0/16"], "http://[2002:a14:304::]/"),
        (["fd12:3456::/32"], "http://[fd12:3456::1]/"),
        (["100.64.0.0/10"], "http://100.100.1.1/"),
    ],
)
def test_an_explicit_private_entry_opens_exactly_its_range(allow: list[str], url: str) -> None:
    _webhook_guard(allow, url)
    _source_guard(allow, url)
    with pytest.raises(RefusedDestinationError):
        _webhook_guard(allow, "http://192.168.1.1/")


def test_embedded_addresses_are_read_from_every_carrier() -> None:
    def inner(text: str) -> list[str]:
        return [str(a) for a in embedded(parse_address(text))]

    assert inner("2002:a9fe:a9fe::") == ["169.254.169.254"]
    assert inner("64:ff9b::7f00:1") == ["127.0.0.1"]
    assert inner("::10.0.0.1") == ["10.0.0.1"]
    assert inner("2001:0:4136:e378:8000:63bf:80ff:fffe") == ["127.0.0.1", "65.54.227.120"]
    assert "127.0.0.1" in inner("64:ff9b:1:7f00:0:100::")
    assert inner("::1") == inner("2606:4700::1111") == inner("8.8.8.8") == []


def test_refusals_carry_a_reason() -> None:
    with pytest.raises(RefusedDestinationError, match="canonical dotted-quad"):
        _webhook_guard([], "http://2130706433/")
    with pytest.raises(SourceError, match="userinfo"):
        _source_guard([], "http://evil@127.0.0.1/")
    with pytest.raises(RefusedDestinationError, match=r"192\.0\.0\.192"):
        _webhook_guard([], "http://192.0.0.192/")


def test_a_malformed_tool_url_is_a_refused_outcome_not_an_exception() -> None:
    # Validation refuses this URL now; a spec built past validation is still only refused.
    http = HttpToolSpec.model_construct(
        url="http://127.0.0.1:80:81/x",
        method="POST",
        timeout_ms=1000,
        retries=0,
        signing_secret_ref=None,
    )
    tool = ToolSpec.model_construct(
        name="lookup", description="Look something up", parameters=ToolParameters(), http=http
    )
    runner = ToolRunner(SsrfGuard(["0.0.0.0/0"], resolve=_resolve_async), environ={})
    outcome = asyncio.run(runner.run(tool, "{}", "call-1"))
    assert (outcome.ok, outcome.error) == (False, "refused")
    assert "malformed URL" in outcome.content
