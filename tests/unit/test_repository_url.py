"""Repository URL rules: accepted forms → canonical URL, every refusal → its reason."""

from __future__ import annotations

import pytest
from repoconn_core.errors import InvalidRepositoryUrl, ServiceTypeMismatch, ValidationFailed
from repoconn_core.providers import ProviderEndpoint, RepositoryRef, ServiceType
from repoconn_core.repository_url import (
    MAX_SEGMENT_LENGTH,
    MAX_URL_LENGTH,
    check_service_type,
    parse_repository_url,
)
from repoconn_core.settings import SelfHostedProvider, Settings

GITHUB, GITLAB, BITBUCKET = ServiceType.GITHUB, ServiceType.GITLAB, ServiceType.BITBUCKET
SECRET = "ghp_secret123"


def _endpoints() -> dict[str, ProviderEndpoint]:
    # Self-hosted hosts come from the real settings model, as they do in the service. The
    # loopback, IP and metadata entries prove that configuring such a host does not help.
    hosted = {
        "git.example.com": {"serviceType": "GitLab", "apiUrl": "https://git.example.com/api/v4"},
        "code.example.org": {"serviceType": "GitHub", "apiUrl": "https://code.example.org/api/v3"},
        "xn--bcher-kva.example": {"serviceType": "GitLab", "apiUrl": "https://x.example/api/v4"},
        "localhost": {"serviceType": "GitLab", "apiUrl": "http://localhost:8080/api/v4"},
        "git.localhost": {"serviceType": "GitLab", "apiUrl": "http://git.localhost/api/v4"},
        "127.0.0.1": {"serviceType": "GitHub", "apiUrl": "http://127.0.0.1:9000"},
        "metadata.google.internal": {"serviceType": "GitHub", "apiUrl": "http://x.example"},
    }
    settings = Settings(
        self_hosted_providers={h: SelfHostedProvider.model_validate(p) for h, p in hosted.items()},
        # Loopback API URLs are refused at startup outside local runs (network_policy); the URL
        # rules refuse these repository hosts in every mode, so the local mode is the harder case.
        allow_loopback_provider_api=True,
    )
    return settings.provider_endpoints()


ENDPOINTS = _endpoints()


def _parse(raw: str) -> RepositoryRef:
    return parse_repository_url(raw, ENDPOINTS)


ACCEPTED = [
    # (raw URL, canonical URL, service type)
    ("https://github.com/acme/api", "https://github.com/acme/api", GITHUB),
    ("https://github.com/acme/api.git", "https://github.com/acme/api", GITHUB),
    ("https://github.com/acme/api/", "https://github.com/acme/api", GITHUB),
    ("https://github.com/acme/api.git/", "https://github.com/acme/api", GITHUB),
    ("https://GitHub.com/Acme/Repo.git", "https://github.com/acme/repo", GITHUB),
    ("HTTPS://GITHUB.COM/ACME/REPO.GIT", "https://github.com/acme/repo", GITHUB),
    ("https://github.com:443/acme/api", "https://github.com/acme/api", GITHUB),
    ("https://github.com/acme/.github", "https://github.com/acme/.github", GITHUB),
    ("https://github.com/a-c_m.e/re.po-x_y", "https://github.com/a-c_m.e/re.po-x_y", GITHUB),
    ("https://github.com/acme/api.gitx", "https://github.com/acme/api.gitx", GITHUB),
    ("git@github.com:acme/api.git", "https://github.com/acme/api", GITHUB),
    ("git@github.com:acme/api", "https://github.com/acme/api", GITHUB),
    ("git@GitHub.com:Acme/API.git", "https://github.com/acme/api", GITHUB),
    ("ssh://git@github.com/acme/api.git", "https://github.com/acme/api", GITHUB),
    ("ssh://git@github.com:22/acme/api.git", "https://github.com/acme/api", GITHUB),
    ("SSH://git@github.com/acme/api", "https://github.com/acme/api", GITHUB),
    ("ssh://github.com/acme/api.git", "https://github.com/acme/api", GITHUB),
    ("https://gitlab.com/group/project", "https://gitlab.com/group/project", GITLAB),
    ("https://gitlab.com/g/sub/repo", "https://gitlab.com/g/sub/repo", GITLAB),
    ("https://gitlab.com/g/s1/s2/s3/repo.git", "https://gitlab.com/g/s1/s2/s3/repo", GITLAB),
    ("https://gitlab.com/g/sub/repo/-/tree/main", "https://gitlab.com/g/sub/repo", GITLAB),
    ("https://gitlab.com/g/repo/-/merge_requests/7", "https://gitlab.com/g/repo", GITLAB),
    ("https://gitlab.com/g/repo/-/", "https://gitlab.com/g/repo", GITLAB),
    ("https://gitlab.com/G/Sub/Repo.git/-/blob/x", "https://gitlab.com/g/sub/repo", GITLAB),
    ("git@gitlab.com:g/sub/repo.git", "https://gitlab.com/g/sub/repo", GITLAB),
    ("ssh://git@gitlab.com:2222/g/sub/repo.git", "https://gitlab.com/g/sub/repo", GITLAB),
    ("https://bitbucket.org/workspace/repo", "https://bitbucket.org/workspace/repo", BITBUCKET),
    ("https://bitbucket.org/WorkSpace/Repo.git", "https://bitbucket.org/workspace/repo", BITBUCKET),
    ("git@bitbucket.org:workspace/repo.git", "https://bitbucket.org/workspace/repo", BITBUCKET),
    ("https://git.example.com/team/app", "https://git.example.com/team/app", GITLAB),
    ("https://git.example.com:8443/team/app", "https://git.example.com/team/app", GITLAB),
    (
        "https://Git.Example.com/Team/Sub/App/-/issues",
        "https://git.example.com/team/sub/app",
        GITLAB,
    ),
    ("git@code.example.org:team/app.git", "https://code.example.org/team/app", GITHUB),
    ("https://xn--bcher-kva.example/team/app", "https://xn--bcher-kva.example/team/app", GITLAB),
    ("https://github.com/o/" + "r" * 255 + ".git", "https://github.com/o/" + "r" * 255, GITHUB),
]


@pytest.mark.parametrize("parsed", ["as-sent", "canonical"])
@pytest.mark.parametrize(
    ("raw", "canonical", "service_type"), ACCEPTED, ids=[a[0][:60] for a in ACCEPTED]
)
def test_accepted_url_and_its_canonical_form_parse_to_exactly_that_canonical_form(
    raw: str, canonical: str, service_type: ServiceType, parsed: str
) -> None:
    # Given an accepted spelling of a repository URL, or its canonical form (the table key,
    # re-parsed when a stored connection is used)
    # When it is parsed
    repo = _parse(raw if parsed == "as-sent" else canonical)
    # Then the canonical URL and service type are exactly the expected ones
    assert repo.canonical_url == canonical
    assert repo.service_type is service_type
    assert repo.endpoint is ENDPOINTS[repo.host]


def test_repository_ref_splits_gitlab_namespace_and_name() -> None:
    # Given a GitLab URL with nested groups
    # When it is parsed
    repo = _parse("https://gitlab.com/Group/Sub/Repo.git")
    # Then host, path, namespace and name are lower-case and without .git
    assert (repo.host, repo.path) == ("gitlab.com", "group/sub/repo")
    assert (repo.namespace, repo.name) == ("group/sub", "repo")


def test_self_hosted_endpoint_is_the_configured_one() -> None:
    # Given a self-hosted GitLab configured through settings
    # When a URL on that host is parsed
    repo = _parse("https://git.example.com/team/app")
    # Then it carries that host's API base URL and is marked self-hosted
    assert repo.endpoint == ProviderEndpoint(GITLAB, "https://git.example.com/api/v4", True)


REJECTED = [
    # (id, raw URL, reason)
    ("http", "http://github.com/acme/api", "insecure_scheme"),
    ("http-upper", "HTTP://github.com/acme/api", "insecure_scheme"),
    ("git-scheme", "git://github.com/acme/api.git", "unsupported_scheme"),
    ("ftp-scheme", "ftp://github.com/acme/api", "unsupported_scheme"),
    ("file-scheme", "file:///etc/passwd", "unsupported_scheme"),
    ("javascript", "javascript:alert(1)", "not_a_url"),
    ("no-scheme", "github.com/acme/api", "not_a_url"),
    ("scp-without-user", "github.com:acme/api.git", "not_a_url"),
    ("empty", "", "not_a_url"),
    ("https-user-pass", f"https://user:{SECRET}@github.com/acme/api", "credentials"),
    ("https-token-user", f"https://{SECRET}@github.com/acme/api", "credentials"),
    ("https-oauth2-token", f"https://oauth2:{SECRET}@gitlab.com/g/r.git", "credentials"),
    ("https-empty-userinfo", "https://@github.com/acme/api", "credentials"),
    ("https-git-user", "https://git@github.com/acme/api", "credentials"),
    ("https-creds-and-query", f"https://{SECRET}@github.com/a/b?x=1", "credentials"),
    ("ssh-other-user", f"ssh://{SECRET}@github.com/acme/api.git", "credentials"),
    ("ssh-git-password", f"ssh://git:{SECRET}@github.com/acme/api.git", "credentials"),
    ("scp-other-user", f"{SECRET}@github.com:acme/api.git", "credentials"),
    ("scp-git-password", f"git:{SECRET}@github.com:acme/api.git", "credentials"),
    ("scp-double-at", f"git@{SECRET}@github.com:acme/api.git", "credentials"),
    ("query", "https://github.com/acme/api?tab=readme", "query"),
    ("query-empty", "https://github.com/acme/api?", "query"),
    ("query-on-host", "https://github.com?acme/api", "query"),
    ("scp-query", "git@github.com:acme/api.git?x", "query"),
    ("fragment", "https://github.com/acme/api#readme", "fragment"),
    ("percent-in-path", "https://github.com/acme/api%2Fx", "percent_encoding"),
    ("percent-dotdot", "https://github.com/acme/%2e%2e", "percent_encoding"),
    ("percent-in-host", "https://github%2ecom/acme/api", "percent_encoding"),
    ("unknown-host", "https://example.com/acme/api", "unknown_host"),
    ("lookalike-suffix", "https://github.com.evil.example/acme/api", "unknown_host"),
    ("subdomain", "https://www.github.com/acme/api", "unknown_host"),
    ("ssh-github-host", "ssh://git@ssh.github.com:443/acme/api.git", "unknown_host"),
    ("punycode-lookalike", "https://xn--gthub-n4a.com/acme/api", "idn_host"),
    ("cyrillic-i", "https://g\u0456thub.com/acme/api", "non_ascii"),
    ("fullwidth-slash", "https://github.com\uff0facme/api", "non_ascii"),
    ("non-ascii-path", "https://github.com/acme/r\u00e9po", "non_ascii"),
    ("ipv4", "https://140.82.112.3/acme/api", "ip_literal"),
    ("ipv4-loopback-configured", "https://127.0.0.1/acme/api", "ip_literal"),
    ("ipv4-trailing-dot", "https://127.0.0.1./acme/api", "ip_literal"),
    ("ipv4-integer", "https://2130706433/acme/api", "ip_literal"),
    ("ipv4-hex-int", "https://0x7f000001/acme/api", "ip_literal"),
    ("ipv4-hex-dotted", "https://0x7f.1/acme/api", "ip_literal"),
    ("ipv4-octal", "https://0177.0.0.1/acme/api", "ip_literal"),
    ("ipv4-short", "https://127.1/acme/api", "ip_literal"),
    ("ipv6", "https://[::1]/acme/api", "ip_literal"),
    ("ipv6-metadata", "https://[fd00:ec2::254]/acme/api", "ip_literal"),
    ("ssh-ipv4", "ssh://git@169.254.169.254/acme/api", "ip_literal"),
    ("scp-ipv6", "git@[::1]:acme/api.git", "ip_literal"),
    ("scp-ipv4", "git@10.0.0.1:acme/api.git", "ip_literal"),
    ("localhost-configured", "https://localhost/acme/api", "loopback_host"),
    ("localhost-upper", "https://LOCALHOST:8443/acme/api", "loopback_host"),
    ("dot-localhost-configured", "https://git.localhost/acme/api", "loopback_host"),
    ("scp-localhost", "git@localhost:acme/api.git", "loopback_host"),
    ("metadata-configured", "https://metadata.google.internal/acme/api", "metadata_host"),
    ("empty-host", "https:///acme/api", "invalid_host"),
    ("trailing-dot-host", "https://github.com./acme/api", "invalid_host"),
    ("underscore-host", "https://git_hub.com/acme/api", "invalid_host"),
    ("backslash-host", "https://evil.example\\.github.com/acme/api", "invalid_host"),
    ("bare-ipv6", "https://::1/acme/api", "invalid_host"),
    ("empty-port", "https://github.com:/acme/api", "invalid_port"),
    ("port-zero", "ssh://git@github.com:0/acme/api", "invalid_port"),
    ("port-too-big", "ssh://git@github.com:65536/acme/api", "invalid_port"),
    ("port-not-digits", "https://github.com:https/acme/api", "invalid_port"),
    ("port-public-host", "https://github.com:8443/acme/api", "port_not_allowed"),
    ("double-slash", "https://github.com//acme/api", "empty_segment"),
    ("double-slash-middle", "https://gitlab.com/g//repo", "empty_segment"),
    ("two-trailing-slashes", "https://github.com/acme/api//", "empty_segment"),
    ("scp-absolute-path", "git@github.com:/acme/api.git", "empty_segment"),
    ("dotdot", "https://github.com/acme/../api", "dot_segment"),
    ("dotdot-last", "https://gitlab.com/g/..", "dot_segment"),
    ("dot", "https://github.com/./api", "dot_segment"),
    ("scp-dotdot", "git@gitlab.com:g/../r.git", "dot_segment"),
    ("bad-char-tilde", "https://github.com/~acme/api", "invalid_segment"),
    ("bad-char-colon", "https://github.com/acme/a:pi", "invalid_segment"),
    ("bad-char-at-in-path", "https://github.com/acme/api@main", "invalid_segment"),
    ("bad-char-plus", "https://github.com/acme/a+b", "invalid_segment"),
    ("backslash-path", "https://github.com/acme\\api/x", "invalid_segment"),
    ("only-dot-git", "https://github.com/acme/.git", "invalid_segment"),
    ("double-git-suffix", "https://github.com/acme/api.git.git", "invalid_segment"),
    ("git-suffix-in-group", "https://gitlab.com/g.git/repo", "invalid_segment"),
    ("ssh-gitlab-separator", "git@gitlab.com:g/repo/-/tree", "invalid_segment"),
    ("github-tree-page", "https://github.com/acme/api/tree/main", "not_a_repository_path"),
    ("github-pulls-page", "https://github.com/acme/api/pulls", "not_a_repository_path"),
    ("github-three-segments", "git@github.com:a/b/c.git", "not_a_repository_path"),
    ("bitbucket-src-page", "https://bitbucket.org/ws/repo/src/main/", "not_a_repository_path"),
    ("github-owner-only", "https://github.com/acme", "not_a_repository_path"),
    ("github-host-only", "https://github.com", "not_a_repository_path"),
    ("github-root", "https://github.com/", "not_a_repository_path"),
    ("gitlab-one-segment", "https://gitlab.com/group", "not_a_repository_path"),
    ("gitlab-separator-first", "https://gitlab.com/g/-/tree/main", "not_a_repository_path"),
    ("space-in-path", "https://github.com/acme/my api", "whitespace_or_control"),
    ("leading-space", " https://github.com/acme/api", "whitespace_or_control"),
    ("trailing-newline", "https://github.com/acme/api\n", "whitespace_or_control"),
    ("tab-in-host", "https://git\thub.com/acme/api", "whitespace_or_control"),
    ("nul", "https://github.com/acme/api\x00.git", "whitespace_or_control"),
    ("del", "https://github.com/acme/api\x7f", "whitespace_or_control"),
    ("url-too-long", "https://gitlab.com/" + "g/" * 510 + "repo", "too_long"),
    ("segment-too-long", "https://github.com/acme/" + "r" * 256, "segment_too_long"),
    ("owner-too-long", "https://github.com/" + "o" * 256 + "/api", "segment_too_long"),
]


@pytest.mark.parametrize(("raw", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rejected_url_raises_invalid_repository_url_with_reason(raw: str, reason: str) -> None:
    # Given a URL that breaks one rule
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        _parse(raw)
    # Then it is refused as an invalid repository URL, naming that rule
    error = caught.value
    assert getattr(error, "reason", None) == reason
    assert (error.status, error.code) == (422, "invalid_repository_url")
    assert error.errors == [{"loc": ["body", "repositoryUrl"], "type": reason, "msg": error.detail}]


@pytest.mark.parametrize(("raw", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rejection_detail_never_echoes_the_url_or_a_credential(raw: str, reason: str) -> None:
    # Given a refused URL, some with a token embedded
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        _parse(raw)
    # Then neither the detail nor the error entry carries the token or any part of the path
    # (most of these URLs name the owner "acme", which no fixed detail text contains)
    rendered = f"{caught.value.detail} {caught.value.errors} {caught.value}"
    assert SECRET not in rendered
    assert "acme" not in rendered.lower()


def test_url_of_exactly_the_maximum_length_is_accepted() -> None:
    # Given a GitLab URL of nested groups, filled up to exactly MAX_URL_LENGTH characters
    raw = "https://gitlab.com/" + "/".join(["g" * 100] * 9) + "/"
    raw += "r" * (MAX_URL_LENGTH - len(raw))
    assert len(raw) == MAX_URL_LENGTH
    # When it is parsed
    repo = _parse(raw)
    # Then it is accepted unchanged
    assert repo.canonical_url == raw


def test_segment_of_exactly_the_maximum_length_is_accepted() -> None:
    # Given a repository name of exactly MAX_SEGMENT_LENGTH characters
    raw = "https://github.com/acme/" + "r" * MAX_SEGMENT_LENGTH
    # When it is parsed
    repo = _parse(raw)
    # Then it is accepted unchanged
    assert repo.name == "r" * MAX_SEGMENT_LENGTH


def test_url_one_character_over_the_maximum_is_rejected() -> None:
    # Given a valid-looking URL of MAX_URL_LENGTH + 1 characters
    prefix = "https://gitlab.com/"
    body = "/".join(["g" * 200] * 6)
    raw = (prefix + body)[: MAX_URL_LENGTH + 1]
    assert len(raw) == MAX_URL_LENGTH + 1
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        _parse(raw)
    # Then it is refused for its length
    assert getattr(caught.value, "reason", None) == "too_long"


def test_self_hosted_host_is_unknown_until_configured() -> None:
    # Given only the public provider hosts
    public_only = Settings().provider_endpoints()
    # When a self-hosted URL is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        parse_repository_url("https://git.example.com/team/app", public_only)
    # Then its host is unknown
    assert getattr(caught.value, "reason", None) == "unknown_host"


def test_unknown_host_detail_lists_the_public_hosts_but_not_the_url() -> None:
    # Given a URL on an unknown host
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        _parse("https://evil.example/acme/api")
    # Then the detail says which hosts are accepted, without repeating the host given
    assert caught.value.detail == (
        "The repository URL's host is not a supported provider: github.com, gitlab.com, "
        "bitbucket.org or a configured self-hosted host."
    )


def test_github_page_link_detail_explains_the_two_segment_rule() -> None:
    # Given a link to a page inside a GitHub repository
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        _parse("https://github.com/acme/api/tree/main")
    # Then the detail explains what a GitHub repository URL looks like
    assert caught.value.detail == (
        "Not a repository URL: a GitHub repository URL has exactly an owner and a repository "
        "name (https://github.com/owner/repo); links to pages inside a repository are not "
        "accepted."
    )


def test_non_string_input_is_rejected_not_crashed_on() -> None:
    # Given a value that is not a string (a JSON body can hold anything)
    # When it is parsed
    with pytest.raises(InvalidRepositoryUrl) as caught:
        parse_repository_url(123, ENDPOINTS)  # type: ignore[arg-type]
    # Then it is a clean refusal
    assert getattr(caught.value, "reason", None) == "not_a_string"


# --- serviceType ---------------------------------------------------------------------------

SERVICE_TYPE_OK = [
    ("https://github.com/acme/api", None),
    ("https://github.com/acme/api", "GitHub"),
    ("https://github.com/acme/api", "github"),
    ("https://github.com/acme/api", "GITHUB"),
    ("https://gitlab.com/g/sub/repo", "GitLab"),
    ("https://gitlab.com/g/sub/repo", "gitlab"),
    ("https://bitbucket.org/ws/repo", "Bitbucket"),
    ("https://bitbucket.org/ws/repo", "bitBucket"),
    ("https://git.example.com/team/app", "GitLab"),
    ("https://code.example.org/team/app", "github"),
]


@pytest.mark.parametrize(
    ("raw", "declared"), SERVICE_TYPE_OK, ids=[f"{u.split('/')[2]}-{d}" for u, d in SERVICE_TYPE_OK]
)
def test_matching_or_absent_service_type_is_accepted(raw: str, declared: str | None) -> None:
    # Given a parsed repository and a serviceType that matches it (any case) or is absent
    repo = _parse(raw)
    # When it is checked
    check_service_type(repo, declared)
    # Then it passes (no ServiceTypeMismatch), and the service type stays the host's
    assert repo.service_type is ENDPOINTS[repo.host].service_type


SERVICE_TYPE_MISMATCH = [
    (
        "https://github.com/acme/api",
        "GitLab",
        "serviceType is GitLab but the repository host github.com is a GitHub host.",
    ),
    (
        "https://gitlab.com/g/repo",
        "bitbucket",
        "serviceType is Bitbucket but the repository host gitlab.com is a GitLab host.",
    ),
    (
        "https://bitbucket.org/ws/repo",
        "GITHUB",
        "serviceType is GitHub but the repository host bitbucket.org is a Bitbucket host.",
    ),
    (
        "https://git.example.com/team/app",
        "GitHub",
        "serviceType is GitHub but the repository host git.example.com is a GitLab host.",
    ),
]


@pytest.mark.parametrize(
    ("raw", "declared", "detail"),
    SERVICE_TYPE_MISMATCH,
    ids=[f"{u.split('/')[2]}-{d}" for u, d, _ in SERVICE_TYPE_MISMATCH],
)
def test_mismatching_service_type_names_both(raw: str, declared: str, detail: str) -> None:
    # Given a parsed repository and a serviceType of another provider
    repo = _parse(raw)
    # When it is checked
    with pytest.raises(ServiceTypeMismatch) as caught:
        check_service_type(repo, declared)
    # Then it is a 422 service_type_mismatch naming the declared and the actual type
    assert (caught.value.status, caught.value.code) == (422, "service_type_mismatch")
    assert caught.value.detail == detail


@pytest.mark.parametrize("declared", ["Gitea", "", " GitHub", "git hub", SECRET])
def test_unknown_service_type_lists_accepted_values_without_echoing(declared: str) -> None:
    # Given a serviceType that names no provider
    repo = _parse("https://github.com/acme/api")
    # When it is checked
    with pytest.raises(ValidationFailed) as caught:
        check_service_type(repo, declared)
    # Then it is a plain validation failure listing the accepted values, not a mismatch
    error = caught.value
    assert not isinstance(error, ServiceTypeMismatch)
    assert (error.status, error.code) == (422, "validation_failed")
    assert error.detail == (
        "serviceType must be one of GitHub, GitLab, Bitbucket, or left out to infer it from "
        "the host."
    )
    assert error.errors == [{"loc": ["body", "serviceType"], "type": "enum", "msg": error.detail}]
