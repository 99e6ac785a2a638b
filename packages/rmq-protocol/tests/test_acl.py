"""ACL 1.0 signing against what the real C++ clients send (captures.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from rmq_protocol.codec.acl import sign_command, signature, verify_signature
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand, decode_command, encode_command


@pytest.mark.parametrize("name", ["cpp1_route", "cpp21_route"])
def test_captured_cpp_signature_verifies_with_empty_credentials(
    frames: dict[str, bytes], name: str
) -> None:
    cmd = decode_command(frames[name][4:])
    assert cmd.ext_fields is not None
    assert cmd.ext_fields["Signature"] == "N/YT7X6tJe5UfutmW+uNwTTJ7Fc="
    assert verify_signature(cmd, "")
    assert not verify_signature(cmd, "not-the-secret")


def test_sign_then_verify_round_trip_with_body() -> None:
    cmd = RemotingCommand.request(
        RequestCode.SEND_MESSAGE_V2, ext_fields={"b": "TopicTest", "a": "PID"}, body=b"\x00payload"
    )
    signed = sign_command(cmd, "ak", "sk", security_token="tok")  # noqa: S106 - test value
    assert signed.ext_fields is not None
    assert signed.ext_fields["AccessKey"] == "ak"
    assert signed.ext_fields["SecurityToken"] == "tok"
    wire = decode_command(encode_command(signed)[4:])
    assert verify_signature(wire, "sk")
    assert not verify_signature(wire._replace(body=b"\x00tampered"), "sk")
    assert not verify_signature(cmd, "sk")  # unsigned


def test_values_in_java_key_order_body_last() -> None:
    # Java's TreeMap order: "AccessKey" < "B" < "a" (uppercase first), body appended last.
    ext = {"a": "3", "B": "2", "AccessKey": "1", "Signature": "ignored"}
    assert signature(ext, b"body", "k") == _hmac_b64(b"k", b"123body")


def test_java_order_for_supplementary_characters() -> None:
    # Java compares UTF-16 units: U+1F600 (first unit 0xD83D) sorts BEFORE U+FF61;
    # Python's code-point order would put it after.
    ext = {"\uff61": "x", "\U0001f600": "y"}
    assert signature(ext, b"", "k") == _hmac_b64(b"k", b"yx")


def _hmac_b64(key: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(key, data, hashlib.sha1).digest()).decode()
