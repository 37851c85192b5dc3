"""Every example payload GitHub documents (@octokit/webhooks-examples: 58 event types, 329
payloads; tests/support/provider_examples.py fetches it), signed as GitHub signs and delivered
through the real receiver: the subscribed kinds are recorded and published with their payload
intact, the ping is acknowledged, every other kind is acknowledged and never published. And
the example payloads GitLab's and Bitbucket Cloud's documentation give (5, kept by Weblate's
tests; fetched the same way), through the same receiver.

Payloads we wrote ourselves are the shapes we expected; these are the shapes GitHub sends.
"""

from __future__ import annotations

import json
from typing import Any

from repoconn_core.providers import DELIVERED_EVENT_KINDS, ServiceType

from tests.integration.conftest import EventBusTap
from tests.support.api import Api, given_connected
from tests.support.deliveries import HookKeys, relabelled, signed
from tests.support.handlers import deliver_to_receiver
from tests.support.provider_examples import (
    documented_gitlab_and_bitbucket_examples,
    github_examples,
)
from tests.support.simulator_control import SimulatorControl

REPOSITORY = "https://github.com/acme/corpus"
TOKEN = "tok-good-payload-corpus-0123"
# EventBridge's entry limit less the event's envelope: bigger payloads are published without.
PUBLISHED_WITH_PAYLOAD_UP_TO = 200_000


def _deliver(connection_id: str, secret: str, event: str, payload: Any) -> tuple[str, Any]:
    delivery = relabelled(signed("GitHub", secret, payload=payload), "GitHub", event)
    return delivery.delivery_id, deliver_to_receiver(connection_id, delivery.headers, delivery.body)


def test_every_github_example_payload_is_verified_and_only_subscribed_kinds_published(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a GitHub connection and GitHub's documented examples of every event type
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    secret = str(sim_control.hook_of(connection_id)["secret"])
    corpus = github_examples()
    subscribed = DELIVERED_EVENT_KINDS[ServiceType.GITHUB]
    # when each is signed and delivered under its own event name
    published: dict[str, Any] = {}
    for event in corpus:
        for payload in event["examples"]:
            delivery_id, answer = _deliver(connection_id, secret, event["name"], payload)
            body = answer.json()
            expected = (
                (202, {"accepted": True, "duplicate": False, "deliveryId": delivery_id})
                if event["name"] in subscribed
                else (
                    200,
                    {
                        "accepted": False,
                        "ignored": "ping" if event["name"] == "ping" else "not_subscribed",
                        "deliveryId": delivery_id,
                    },
                )
            )
            assert (answer.status, body) == expected, (event["name"], answer.text[:300])
            if event["name"] in subscribed:
                published[delivery_id] = payload
    # then exactly the subscribed kinds reached the bus, each payload as GitHub sent it (or
    # left out, with its size, when EventBridge could not carry it)
    events = {e["detail"]["deliveryId"]: e for e in event_bus.events()}
    assert set(events) == set(published)
    for delivery_id, payload in published.items():
        detail = events[delivery_id]["detail"]
        if len(json.dumps(payload)) <= PUBLISHED_WITH_PAYLOAD_UP_TO:
            assert detail["payload"] == payload
        else:
            assert detail["payloadOmitted"] is True
    examples = sum(len(event["examples"]) for event in corpus)
    assert len(corpus) >= 58 and examples >= 329
    print(
        f"GitHub example corpus: {examples} payloads of {len(corpus)} event types verified; "
        f"{len(published)} published (push, pull_request), the rest acknowledged"
    )


def test_gitlab_and_bitbucket_documented_payloads_are_verified_and_published_intact(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a GitLab and a Bitbucket Cloud connection, and the example payloads of those
    # providers' webhook documentation (not written here: see provider_examples.py)
    corpus = documented_gitlab_and_bitbucket_examples()
    keys = {}
    for provider, repository in (
        ("GitLab", "https://gitlab.com/acme/corpus"),
        ("Bitbucket", "https://bitbucket.org/acme/corpus"),
    ):
        project = f"corpus-{provider.lower()}"
        connection_id = given_connected(api, repository, project=project, token=TOKEN)["id"]
        keys[provider] = (connection_id, HookKeys.of(sim_control.hook_of(connection_id)))
    # when each is signed as its provider signs and delivered under its documented event key
    published: dict[str, Any] = {}
    for example in corpus:
        connection_id, hook_keys = keys[example["provider"]]
        delivery = relabelled(
            signed(example["provider"], hook_keys, payload=example["payload"]),
            example["provider"],
            example["event"],
        )
        answer = deliver_to_receiver(connection_id, delivery.headers, delivery.body)
        # then each is a new delivery, accepted
        assert answer.status == 202, (example["name"], answer.text)
        published[delivery.delivery_id] = example["payload"]
    # and each reached the bus with its payload exactly as documented
    events = {e["detail"]["deliveryId"]: e for e in event_bus.events()}
    assert {d: events[d]["detail"]["payload"] for d in published} == published
    providers = {example["provider"] for example in corpus}
    assert providers == {"GitLab", "Bitbucket"} and len(corpus) == 5
    print(
        f"GitLab and Bitbucket documented payloads: {len(corpus)} verified and published "
        f"({', '.join(example['event'] for example in corpus)})"
    )
