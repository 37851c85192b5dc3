"""``repoconn health-check`` finds a ``make dev`` stack on the ports ``make dev`` was given:
both read PORT, SIM_PORT and AWS_PORT (issue 15: the command ignored them, so the README's
``… | tail -1`` printed an empty line on a stack moved to other ports)."""

from __future__ import annotations

import argparse

import pytest
from repoconn_local.cli.health_check import add_arguments, address_from


def _address(argv: list[str]) -> tuple[str, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    address = address_from(parser.parse_args(argv))
    return address.aws_endpoint_url, address.simulator_url, address.api_url


def test_the_default_ports_are_make_devs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "SIM_PORT", "AWS_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert _address([]) == (
        "http://127.0.0.1:3002",
        "http://127.0.0.1:3001",
        "http://127.0.0.1:3000",
    )


def test_the_port_variables_move_it_as_they_move_make_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the variables `PORT=4000 SIM_PORT=4001 AWS_PORT=4002 make dev` was started with
    monkeypatch.setenv("PORT", "4000")
    monkeypatch.setenv("SIM_PORT", "4001")
    monkeypatch.setenv("AWS_PORT", "4002")
    # then the command looks there, and an explicit option still wins
    assert _address([]) == (
        "http://127.0.0.1:4002",
        "http://127.0.0.1:4001",
        "http://127.0.0.1:4000",
    )
    assert _address(["--api-url", "http://127.0.0.1:5000"])[2] == "http://127.0.0.1:5000"
