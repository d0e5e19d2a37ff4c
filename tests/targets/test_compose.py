"""The request bytes of every api over the http carrier, byte for byte as before the api x carrier split.

`data/golden_requests.json` was written by this module's `__main__` under the tree before the
split (`PYTHONPATH=<old tree>/src python3 tests/targets/test_compose.py --write`): each case is a
spec's `target:` mapping, a payload and its content type, built through `build_target` and
`request` exactly as a worker does on a byte-cache miss. The same cases must give the same bytes
now, so the composition changed no request a server sees.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).with_name("data") / "golden_requests.json"
URL = "http://127.0.0.1:8080"

# name -> (target mapping, payload, payload content type)
CASES: dict[str, tuple[dict, bytes, str | None]] = {
    "plain-get-no-body": ({"url": URL + "/ping"}, b"", None),
    "plain-post-json": ({"url": URL + "/invocations", "method": "POST"}, b'{"x": [1, 2]}', "application/json"),
    "plain-default-type-http": ({"type": "http", "url": URL + "/a?b=1&c=%20"}, b"abc", "text/csv"),
    "plain-headers-host-ua-ct": ({"url": "https://h.example:8443/p", "method": "put",
                                  "headers": {"Host": "model.svc", "User-Agent": "me", "Content-Type": "x/y",
                                              "X-Trace": "1", "Connection": "close"}},
                                 b"body", "application/json"),
    "plain-unicode-path-idna": ({"url": "http://bücher.example/v1/models/😀/predict"}, b"{}", None),
    "plain-head": ({"url": URL + "/h", "method": "HEAD"}, b"", None),
    "plain-second-url": ({"url": URL + "/one", "urls": [URL + "/two"]}, b"z", None),
    "openai-chat-stream-text": ({"type": "openai", "url": URL + "/v1", "model": "m", "api_key": "sk-test",
                                 "max_tokens": 8, "params": {"temperature": 0}}, b"hello there", None),
    "openai-chat-object-prompt": ({"type": "openai", "url": URL + "/v1/", "model": "m",
                                   "api_key_env": "STINGER_NO_SUCH_KEY"},
                                  b'{"prompt": "hi", "max_tokens": 3}', "application/json"),
    "openai-chat-messages-list": ({"type": "openai", "url": URL + "/v1/chat/completions", "model": "m",
                                   "api_key_env": "STINGER_NO_SUCH_KEY", "stream": False,
                                   "headers": {"X-Org": "o"}},
                                  b'[{"role": "user", "content": "x"}]', None),
    "openai-completions": ({"type": "openai", "url": URL + "/v1", "model": "m", "api": "completions",
                            "api_key_env": "STINGER_NO_SUCH_KEY", "stream": False}, b'"a prompt"', None),
    "openai-prompt-no-payload": ({"type": "openai", "url": URL + "/v1", "model": "m", "prompt": "p",
                                  "api_key_env": "STINGER_NO_SUCH_KEY"}, b"", None),
    "kserve-v2-row": ({"type": "kserve", "url": URL, "model": "iris"}, b"[5.1, 3.5, 1.4, 0.2]", None),
    "kserve-v2-rows-version-datatype": ({"type": "kserve", "url": URL + "/", "model": "iris", "version": "2",
                                         "datatype": "FP32", "input_name": "x", "headers": {"Host": "iris.svc"}},
                                        b"[[1, 2], [3, 4]]", "application/json"),
    "kserve-v2-request-as-is": ({"type": "kserve", "url": URL, "model": "m"},
                                b'{"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}]}', None),
    "kserve-v1": ({"type": "kserve", "url": URL, "model": "m", "protocol": "v1"}, b'[[1, "a"]]', None),
    "fake": ({"type": "fake"}, b'{"q": 1}', "application/json"),
    # added with the grpc carrier (no bytes before the split): ModelInferRequest protobuf, as latin-1
    "kserve-grpc-rows": ({"type": "kserve", "url": "grpc://127.0.0.1:8081", "model": "iris", "datatype": "FP32"},
                         b"[[5.1, 3.5], [1.4, 0.2]]", None),
    # added with the anthropic api (no bytes before the split): a Messages request, streamed
    "anthropic-messages-stream": ({"type": "anthropic", "url": URL + "/v1", "model": "m", "max_tokens": 8,
                                   "api_key_env": "STINGER_NO_SUCH_KEY"}, b"hello there", None),
}


def built(target: dict, payload: bytes, content_type: str | None) -> list[str]:
    """The request bytes for `payload` on each of the target's endpoints (latin-1 text, for JSON)."""
    from stinger.spec import parse_spec
    from stinger.targets.base import build_target

    spec = parse_spec({"target": target, "load": {"rate": 1, "duration": 1},
                       "payload": {"body": payload.decode()} if payload else {}})
    t = build_target(spec.target)
    return [t.request(ep, payload, 0.0, content_type=content_type)[0].decode("latin-1") for ep in t.endpoints()]


def test_every_case_sends_the_bytes_it_sent_before_the_split():
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(CASES)
    for name, (target, payload, ct) in CASES.items():
        assert built(target, payload, ct) == golden[name], name


if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.write_text(json.dumps({name: built(*case) for name, case in CASES.items()}, indent=1,
                                 ensure_ascii=True) + "\n")


def test_every_pairs_config_pickles_by_reference():
    """Ray pickles the plans: each pair's config class is a module global with a stable name."""
    import pickle

    from stinger.spec import parse_spec
    from stinger.targets.base import registry

    pairs = registry("pairs")   # ours and the vendors'
    seen = set()
    for target, payload, _ in CASES.values():
        spec = parse_spec({"target": target, "load": {"rate": 1, "duration": 1},
                           "payload": {"body": payload.decode()} if payload else {}})
        config = spec.target
        seen.add(config.tag)
        again = pickle.loads(pickle.dumps(config))
        assert again == config and type(again) is type(config)
        module, _, name = pairs[config.tag].partition(":")
        assert (type(config).__module__, type(config).__qualname__) == (module, name)
    for target in ({"type": "sagemaker", "endpoint": "ep"},     # the vendor's pairs
                   {"type": "openai", "via": "sagemaker", "endpoint": "ep", "model": "m", "prompt": "p"}):
        sm = parse_spec({"target": target, "load": {"rate": 1, "duration": 1}}).target
        assert pickle.loads(pickle.dumps(sm)) == sm
        assert (type(sm).__module__, type(sm).__qualname__) == tuple(pairs[sm.tag].split(":"))
        seen.add(sm.tag)
    assert seen == set(pairs)
