"""docs/benchmarks.json (everything measured) and docs/benchmarks.md (the tables)."""

from __future__ import annotations

import time
from typing import Any

from bench.paths import ROOT

FIXES = ROOT / "bench" / "fixes.md"
NAMES = {
    "GetConnectionFunction": "get",
    "ConnectionExistsFunction": "exists",
    "ListDeliveriesFunction": "deliveries",
    "UpsertConnectionFunction": "upsert",
    "DisconnectConnectionFunction": "disconnect",
    "WebhookReceiverFunction": "receive webhook",
    "HealthCheckFunction": "health check",
    "PublishDeliveriesFunction": "relay (publish deliveries)",
    "ReencryptConnectionsFunction": "re-encryption",
    "Baseline": "**baseline** (boto3 + Logger)",
}


def assemble(
    *,
    context: dict[str, Any],
    results: dict[str, Any],
    errors: dict[str, str],
    durations: dict[str, float],
    elapsed: float,
    quick: bool,
) -> dict[str, Any]:
    targets: list[dict[str, Any]] = []
    for section, result in results.items():
        for name, target in (result.get("targets") or {}).items():
            targets.append({"section": section, "name": name, **target})
    invariants: dict[str, bool | None] = {
        "calls_per_operation": results["warm"]["calls_ok"] if "warm" in results else None,
        "read_path_imports": results["cold"]["forbidden_ok"] if "cold" in results else None,
    }
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": elapsed,
        "quick": quick,
        **context,
        "section_seconds": durations,
        "errors": errors,
        "targets": targets,
        "invariants": invariants,
        "invariants_ok": all(value is not False for value in invariants.values()),
        "sections": results,
    }


# Formatting ----------------------------------------------------------------------------------


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _ratio(ratio: dict[str, Any]) -> str:
    low, high = ratio["spread"]
    if abs(high - low) < 1e-9:
        return _x(ratio["median"])
    return f"{_x(ratio['median'])} ({low:.2f}-{high:.2f})"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _iqr(summary: dict[str, Any]) -> str:
    return f"{_ms(summary['p50'])} ({_ms(summary['p25'])}-{_ms(summary['p75'])})"


def _bytes(count: float) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.1f} KB"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "-"}[met]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# Sections ------------------------------------------------------------------------------------


def _cold(result: dict[str, Any]) -> list[str]:
    cached, source = result["cached"], result["source"]
    rows = []
    for name, data in cached.items():
        src = source.get(name)
        rows.append(
            [
                NAMES.get(name, name),
                _iqr(data["import_ms"]),
                _ratio(data["import_ratio"]),
                _iqr(data["import_and_build_ms"]),
                _ratio(data["import_and_build_ratio"]),
                _ms(src["import_ms"]["p50"]) if src else "-",
                _ratio(src["import_ratio"]) if src else "-",
            ]
        )
    rounds = result["rounds"]
    lines = [
        "## 1. Cold start",
        "",
        f"Fresh interpreter per run, laid out as Lambda does (function folder, then its layers' "
        f"folders); {rounds['cached']} runs per function with bytecode cached, "
        f"{rounds['source']} without, interleaved. Times in ms, median (IQR); ratios against "
        f"the baseline handler in the same round, median (min-max). *import + first build* adds "
        f"the composition-root builder the first request calls (clients created, nothing sent).",
        "",
    ]
    lines += _table(
        [
            "function",
            "import ms",
            "import ratio",
            "import + build ms",
            "import + build ratio",
            "no bytecode: import ms",
            "no bytecode: ratio",
        ],
        rows,
    )
    forbidden = result["forbidden_imports"]
    lines.append(
        "Read path import boundary (after import + build): "
        + ", ".join(
            f"{NAMES[name]}: {', '.join(mods) if mods else 'neither cryptography nor requests'}"
            for name, mods in forbidden.items()
        )
        + (" — ok." if result["forbidden_ok"] else " — **VIOLATED**.")
    )
    lines.append("")
    return lines


def _shipped(result: dict[str, Any]) -> list[str]:
    with_, without = result["modes"]["with_bytecode"], result["modes"]["without_bytecode"]
    rows = [
        [
            NAMES.get(name, name),
            _iqr(with_[name]["import_and_build_ms"]),
            _ratio(with_[name]["import_and_build_ratio"]),
            _iqr(without[name]["import_and_build_ms"]),
            _ratio(without[name]["import_and_build_ratio"]),
            _ratio(result["bytecode_speedup"][name]),
        ]
        for name in with_
    ]
    lines = [
        "## 1b. Cold start of the shipped layout (Python 3.13)",
        "",
        f"The layers and functions as `make build` builds them (for {result['machine']}; "
        f"bytecode is platform-independent), run by Python {result['python']} with only the "
        f"layout importable (`python -S`: function, layers, the runtime's SDK with its "
        f"bytecode), read-only as on Lambda; {result['rounds']} runs per function and layout, "
        f"interleaved. *Import + first build* in ms, median (IQR); ratios against the baseline "
        f"handler in the same layout. *with bytecode*: unchecked-hash .pyc shipped beside every "
        f"module (now); *without*: the same files without them (before issue 15), so every "
        f"cold start compiles what it imports.",
        "",
    ]
    lines += _table(
        [
            "function",
            "with bytecode: ms",
            "ratio",
            "without bytecode: ms",
            "ratio",
            "without / with",
        ],
        rows,
    )
    return lines


def _warm(result: dict[str, Any]) -> list[str]:
    rows = []
    for group in ("reads", "writes"):
        for name, data in result["latency"][group].items():
            baseline = name.startswith("raw_")
            rows.append(
                [
                    f"**{name}** (baseline)" if baseline else name,
                    _ms(data["latency_ms"]["p50"]),
                    _ms(data["latency_ms"]["p99"]),
                    "1" if baseline else _ratio(data["p50_ratio"]),
                    "1" if baseline else _ratio(data["p99_ratio"]),
                ]
            )
    reads, writes = result["rounds"]["reads"], result["rounds"]["writes"]
    lines = [
        "## 2. Warm latency",
        "",
        "Real `lambda_handler` in-process (payload-2.0 events, LocalLambdaContext) on DynamoDB "
        "Local, KMS on a moto server, providers on the simulator — each in its own process. "
        "Baselines from the same process on the same backend: a raw boto3 GSI `Query` (Limit 1) "
        "for reads, a raw `PutItem` of a connection-sized item for writes. Operations and their "
        f"baseline alternate in a shuffled order; reads {reads[0]} rounds x {reads[1]}, writes "
        f"{writes[0]} rounds x {writes[1]}. Ratios per round, median (min-max).",
        "",
    ]
    return lines + _table(["operation", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio"], rows)


def _calls(result: dict[str, Any]) -> list[str]:
    rows = []
    checks = result["call_checks"]
    for name, data in result["calls"].items():
        aws = data["aws"]

        def ops(service: str, aws: dict[str, Any] = aws) -> str:
            found = aws.get(service, {})
            return ", ".join(f"{op} {n}" for op, n in found.items()) if found else "0"

        check = checks.get(name)
        rows.append(
            [
                name,
                ops("dynamodb"),
                ops("kms"),
                ops("eventbridge"),
                str(len(data["provider"]))
                + (f" ({', '.join(data['provider'])})" if data["provider"] else ""),
                str(data["new_tcp_connections"]),
                "ok" if check and check["ok"] else ("**FAILED**" if check else "-"),
            ]
        )
    lines = [
        "## 3. Calls per operation",
        "",
        "One call of each operation on warm handlers. AWS calls from a botocore `before-call` "
        "hook on every botocore session of the process (pynamodb's and boto3's); provider "
        "requests from the simulator's log (`GET /_sim/requests`); new TCP connections from "
        "urllib3's pool log (0 = clients and connections reused across invocations). Asserted "
        "in `tests/integration/test_call_counts.py` too.",
        "",
    ]
    return lines + _table(
        ["operation", "DynamoDB", "KMS", "EventBridge", "provider requests", "new TCP", "check"],
        rows,
    )


def _scale(result: dict[str, Any]) -> list[str]:
    rows = []
    for level, data in result["per_level"].items():
        rows.append(
            [
                f"{int(level):,}",
                f"{data['load']['seconds']:.1f}",
                f"{data['load']['items_per_second']:,.0f}",
                _ms(data["raw_gsi_query"]["latency_ms"]["p50"]),
                _ms(data["get"]["latency_ms"]["p50"]),
                _ms(data["exists"]["latency_ms"]["p50"]),
                _ratio(data["get"]["p50_ratio_to_raw"]),
                _ratio(data["exists"]["p50_ratio_to_raw"]),
            ]
        )
    flat = result["largest_over_smallest"]
    reached = result["levels_reached"]
    lines = [
        "## 4. Scale",
        "",
        "One DynamoDB Local table per level, bulk-loaded (`batch_write_item`, timed); each level "
        "served by its own warm container (a spawned interpreter wired to that table); rounds "
        f"({result['rounds'][0]} x {result['rounds'][1]} calls of each) go to the containers in "
        "a shuffled order. Latency p50 in ms.",
        "",
    ]
    lines += _table(
        [
            "stored connections",
            "load s",
            "items/s",
            "raw query",
            "get",
            "exists",
            "get / raw",
            "exists / raw",
        ],
        rows,
    )
    lines.append(
        f"Flatness, p50 with {reached[-1]:,} over p50 with {reached[0]:,} (all rounds; "
        f"per-round ratios in brackets): "
        f"get {_ratio(flat['get']['p50'])}, exists {_ratio(flat['exists']['p50'])}, "
        f"raw query {_ratio(flat['raw_gsi_query']['p50'])}; p99: get "
        f"{_ratio(flat['get']['p99'])}, exists {_ratio(flat['exists']['p99'])}."
    )
    for level, reason in result["skipped"].items():
        lines.append("")
        lines.append(f"Level {int(level):,} skipped — {reason}.")
    lines.append("")
    return lines


CLOCKS = ("wall", "cpu")


def _receiver(result: dict[str, Any]) -> list[str]:
    memory = result["memory"]
    calls = ", ".join(
        f"{service} {op} {n:g}"
        for service, ops in result["aws_calls_per_delivery"].items()
        for op, n in ops.items()
    )

    def against(baseline: str, label: str, ratio: str) -> list[list[str]]:
        """The handler's rates and ratios against one baseline, then the baseline's rates."""

        def rates(prefix: str) -> list[str]:
            return [f"{result[f'{prefix}_per_second_{clock}']['p50']:,.0f}" for clock in CLOCKS]

        handler = [_ratio(result[f"{ratio}_{clock}"]) for clock in CLOCKS]
        return [
            ["receiver (real handler)", *rates("handler"), *handler],
            [label, *rates(baseline), "1", "1"],
        ]

    rows = against("baseline", "**baseline** (HMAC + json.loads)", "cost_ratio")
    floor_rows = against("floor", "**floor** (raw boto3 PutItem of the same record)", "floor_ratio")
    lines = [
        "## 5. Webhook receiver",
        "",
        f"Signed GitHub push deliveries ({result['body_bytes']:,} bytes, distinct delivery ids), "
        f"one after another through the real handler in one warm container; "
        f"{result['rounds'][0]} rounds x {result['rounds'][1]}, each round also running the "
        "baseline on the same bodies. *wall*: deliveries per second of elapsed time, which "
        "includes waiting for DynamoDB Local (another process); *CPU*: per second of this "
        "process's CPU time, i.e. the container's rate if its dependencies answered "
        "instantly. Cost ratios: time per delivery / baseline's. The receiver answers after "
        "one write (the delivery record, carrying its event); the relay publishes from the "
        "table's stream afterwards (below).",
        "",
    ]
    lines += _table(
        ["", "per s (wall)", "per s (CPU)", "cost ratio (wall)", "cost ratio (CPU)"], rows
    )
    lines.append(f"AWS calls per delivery: {calls}.")
    lines.append("")
    lines.append(
        "Against the floor: a receiver must record a delivery before it answers (replay "
        "protection, and nothing acknowledged may be lost), so no receiver does less than one "
        "write. The same rounds also timed raw boto3 PutItems of the same record (same "
        "attributes and sizes, same condition, new keys) from this process:"
    )
    lines.append("")
    lines += _table(
        ["", "per s (wall)", "per s (CPU)", "ratio to floor (wall)", "ratio to floor (CPU)"],
        floor_rows,
    )
    lines.append(
        "Mean time per AWS call as the container sees it (botocore before-call to after-call): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in result["aws_call_mean_ms"].items())
        + "."
    )
    lines.append("")
    lines.append(
        f"Memory over {memory['deliveries']} deliveries: tracemalloc peak "
        f"{memory['tracemalloc_peak_above_start_kib']:,.0f} KiB above the level before, "
        f"{memory['tracemalloc_retained_after_kib']:,.0f} KiB still held after (the secret "
        f"cache, pools); max RSS {memory['max_rss_before_kib'] / 1024:,.1f} MiB → "
        f"{memory['max_rss_after_kib'] / 1024:,.1f} MiB over the timed rounds."
    )
    lines.append("")
    relay = result.get("relay")
    if relay:
        relay_calls = ", ".join(
            f"{service} {op} {n:.2f}"
            for service, ops in relay["aws_calls_per_delivery"].items()
            for op, n in ops.items()
        )
        lines.append(
            f"Relay (PublishDeliveriesFunction's real handler, fed from DynamoDB Local's stream "
            f"in the template's batches): {relay['records_handed']:,} records in "
            f"{relay['invocations']} invocations, {relay['per_second_wall']:,.0f} deliveries/s "
            f"wall clock, {relay['per_second_cpu']:,.0f}/s CPU; AWS calls per delivery: "
            f"{relay_calls}; batch failures: {relay['batch_failures']}."
        )
        lines.append("")
    return lines


def _gateway(result: dict[str, Any]) -> list[str]:
    gateway, baseline = result["gateway"], result["baseline"]
    rows = [
        [
            target,
            ", ".join(f"{v:,.0f}" for v in runs["requests_per_second"]),
            ", ".join(_ms(v) for v in runs["p50_ms"]),
            ", ".join(_ms(v) for v in runs["p99_ms"]),
        ]
        for target, runs in (
            ("`repoconn dev`", gateway),
            ("**baseline** (stdlib http.server)", baseline),
        )
    ]
    lines = [
        "## 6. Local gateway under load",
        "",
        f"locust, headless, {result['users']} closed-loop users, {result['seconds_per_run']} s "
        f"per run, {result['rounds']} runs per target alternating, loopback only: "
        f"`GET {result['path']}` with a `repoconn token` bearer token for a connected project "
        f"(one run per value below). Failures: {result['failures']:g}.",
        "",
    ]
    lines += _table(["target", "requests/s", "p50 ms", "p99 ms"], rows)
    single = result["single_user"]
    lines.append(
        f"One user ({single['seconds']} s each): `repoconn dev` p50 "
        f"{_ms(single['gateway']['p50_ms'])} ms, p99 {_ms(single['gateway']['p99_ms'])} ms, "
        f"{single['gateway']['requests_per_second']:,.0f} requests/s; baseline p50 "
        f"{_ms(single['baseline']['p50_ms'])} ms, p99 {_ms(single['baseline']['p99_ms'])} ms; "
        f"p50 ratio {_x(single['p50_ratio'])}, p99 ratio {_x(single['p99_ratio'])}."
    )
    lines.append("")
    lines.append(
        f"{result['users']} users - cost ratio (baseline requests/s / gateway requests/s): "
        f"{_ratio(result['throughput_cost_ratio'])}; p50 ratio {_ratio(result['p50_ratio'])}; "
        f"p99 ratio {_ratio(result['p99_ratio'])}."
    )
    lines.append("")
    return lines


def _artifacts(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return ["## 7. Artifact sizes", "", f"Not measured: {result['error']}", ""]
    rows = []
    for name, data in result["functions"].items():
        total = data["with_layers"]
        rows.append(
            [
                NAMES.get(name, name),
                " + ".join(data["layers"]),
                _bytes(data["function"]["unzipped_bytes"]),
                _bytes(total["unzipped_bytes"]),
                _bytes(total["zipped_bytes"]),
                _x(data["unzipped_ratio"]["median"]),
                _x(data["zipped_ratio"]["median"]),
                f"{data['share_of_lambda_limit']:.1%}",
            ]
        )
    baseline = result["baseline"]
    build = result["build"]
    how = (
        f"built by the bench (`make build`, {build['seconds']:.0f} s)"
        if build.get("ran")
        else f"from the existing .aws-sam/build (modified {result['build_dir_modified']})"
    )
    lines = [
        "## 7. Artifact sizes",
        "",
        f"Each function with its layers, {how}. Baseline: what the baseline handler ships, "
        f"Powertools alone ({_bytes(baseline['unzipped_bytes'])} unzipped, "
        f"{_bytes(baseline['zipped_bytes'])} zipped; boto3 comes with the runtime).",
        "",
    ]
    lines += _table(
        [
            "function",
            "layers",
            "function code",
            "with layers, unzipped",
            "zipped",
            "unzipped ratio",
            "zipped ratio",
            "of the 250 MB limit",
        ],
        rows,
    )
    return lines


def markdown(document: dict[str, Any]) -> str:
    machine = document["machine"]
    sections = document["sections"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/; do not edit by hand). Every number is measured in "
        "one run against a baseline measured in the same run on the same machine, and is "
        "reported as a ratio: *cost of the thing measured / cost of its baseline* (1.00x = as "
        "cheap as the floor), as the median over rounds with the spread (min-max) in brackets. "
        "Absolute times only describe this machine at this moment; compare ratios.",
        "",
        f"- generated {document['generated_at']}, {document['elapsed_seconds']:.0f} s in all"
        + (" (**--quick**: smoke-test rounds only)" if document["quick"] else ""),
        f"- CPU: {machine['cpu_model']}, {machine['cores']} cores; "
        f"{machine['memory_gib']} GiB; load average at start {machine['load_average_at_start']}",
        f"- Python {machine['python']} ({machine['platform']}); {machine['java']} (DynamoDB Local)",
        "",
        "## Targets",
        "",
    ]
    rows = [
        [
            target["section"],
            target["name"],
            target["metric"],
            f"{target['value']:,.2f}",
            target["target"],
            _met(target["met"]),
        ]
        for target in document["targets"]
    ]
    lines += _table(["section", "what", "metric", "value", "target", ""], rows)
    invariants = document["invariants"]
    lines.append(
        "Invariants: calls per operation "
        + _met(invariants["calls_per_operation"]).replace("met", "hold")
        + "; read path imports neither cryptography nor requests: "
        + _met(invariants["read_path_imports"]).replace("met", "holds")
        + "."
    )
    lines.append("")
    for name, error in document["errors"].items():
        lines += [f"**{name} could not run:**", "", "```", error.strip()[-1500:], "```", ""]
    renderers = {
        "cold": _cold,
        "shipped": _shipped,
        "warm": _warm,
        "scale": _scale,
        "receiver": _receiver,
        "gateway": _gateway,
        "artifacts": _artifacts,
    }
    for name in ("cold", "shipped", "warm"):
        if name in sections:
            lines += renderers[name](sections[name])
    if "warm" in sections:
        lines += _calls(sections["warm"])
    for name in ("scale", "receiver", "gateway", "artifacts"):
        if name in sections:
            lines += renderers[name](sections[name])
    if FIXES.is_file():
        lines += [FIXES.read_text().rstrip(), ""]
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in document["section_seconds"].items())
    lines += [f"Section times: {timings}.", ""]
    return "\n".join(lines)


def summary_lines(document: dict[str, Any]) -> str:
    return "\n".join(
        f"bench: {t['section']}/{t['name']}: {t['value']:.2f} (target {t['target']}): "
        f"{'met' if t['met'] else 'NOT MET'}"
        for t in document["targets"]
    )
