// A frontend's client of docs/openapi.json, type-checked (never run) by
// tests/contract/test_typescript_client.py: `./schema` is what openapi-typescript generates from
// the document. Each "exact" line fails to compile when the document loosens a type (an enum
// becomes a string, an always-present field becomes optional, an absent one claims presence).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Connection = components["schemas"]["RepositoryConnectionInfo"];
type Problem = components["schemas"]["Problem"];
type ValidationIssue = components["schemas"]["ValidationIssue"];
type Delivery = components["schemas"]["DeliveryInfo"];

type ServiceType = "GitHub" | "GitLab" | "Bitbucket";
type HealthStatus = "healthy" | "degraded" | "failed";
type Outcome = "published" | "duplicate" | "dropped" | "redelivered";

// True only when A and B are the same type.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const exact: {
  serviceType: Exactly<Connection["serviceType"], ServiceType>;
  healthStatus: Exactly<Connection["healthStatus"], HealthStatus | null>;
  lastSyncAt: Exactly<Connection["lastSyncAt"], string | null>;
  createdAt: Exactly<Connection["createdAt"], string>;
  outcome: Exactly<Delivery["outcome"], Outcome>;
  nextCursor: Exactly<components["schemas"]["DeliveriesPage"]["nextCursor"], string | null>;
  instance: Exactly<Problem["instance"], string | undefined>;
  errors: Exactly<Problem["errors"], ValidationIssue[] | undefined>;
  loc: Exactly<ValidationIssue["loc"], string[]>;
  gatewayMessage: Exactly<
    components["schemas"]["GatewayError"]["message"],
    | "Internal Server Error"
    | "Not Found"
    | "Request Entity Too Large"
    | "Service Unavailable"
    | "Too Many Requests"
    | "Unauthorized"
  >;
} = {
  serviceType: true,
  healthStatus: true,
  lastSyncAt: true,
  createdAt: true,
  outcome: true,
  nextCursor: true,
  instance: true,
  errors: true,
  loc: true,
  gatewayMessage: true,
};

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:3000" });
const headers = { Authorization: "Bearer a-token" };
const projectId = "demo";
const path = { path: { projectId } };

// A union-typed variable: assigning the answer's field to it needs the enum, not a string.
let shownService: ServiceType = "GitHub";
let shownHealth: HealthStatus | null = null;
let shownOutcome: Outcome = "published";

/** What a settings page shows for a problem: its text, its code and the id to report. */
function describeProblem(problem: Problem): string {
  const fields = (problem.errors ?? []).map((issue) => `${issue.loc.join(".")}: ${issue.msg}`);
  const reference = problem.instance === undefined ? "" : ` (request ${problem.instance})`;
  return `${problem.title} [${problem.code}, ${problem.status}]: ${problem.detail}${reference} ${fields.join("; ")}`;
}

/** The error body of any answer: the service's problem or API Gateway's own message. */
function describeError(error: Problem | { message: string }): string {
  return "code" in error ? describeProblem(error) : `API Gateway: ${error.message}`;
}

export async function settingsPage(): Promise<string[]> {
  const lines: string[] = [];

  const exists = await client.GET("/projects/{projectId}/repository-connection/exists", {
    params: path,
    headers,
  });
  if (exists.data !== undefined) {
    const connected: boolean = exists.data.exists;
    lines.push(`connected: ${connected}`);
  }

  const got = await client.GET("/projects/{projectId}/repository-connection", { params: path, headers });
  if (got.data !== undefined) {
    shownService = got.data.serviceType;
    shownHealth = got.data.healthStatus;
    const since: string = got.data.createdAt;
    lines.push(`${got.data.repositoryUrl} on ${shownService} since ${since}, health ${shownHealth}`);
  } else if (got.error !== undefined) {
    lines.push(describeError(got.error));
    lines.push(`request id: ${got.response.headers.get("x-request-id") ?? got.response.headers.get("apigw-requestid")}`);
  }

  const put = await client.PUT("/projects/{projectId}/repository-connection", {
    params: path,
    headers,
    body: {
      repositoryUrl: "https://github.com/Acme/Widgets.git",
      accessToken: "ghp_exampleToken1234567890",
      serviceType: "GitHub",
    },
  });
  if (put.data !== undefined) {
    shownService = put.data.serviceType;
  } else if (put.error !== undefined) {
    lines.push(describeError(put.error));
    if (put.response.status === 503) {
      lines.push(`retry after ${put.response.headers.get("retry-after")} s`);
    }
  }

  // The request's serviceType is the enum too: anything else does not compile.
  await client.PUT("/projects/{projectId}/repository-connection", {
    params: path,
    headers,
    // @ts-expect-error serviceType is "GitHub" | "GitLab" | "Bitbucket"
    body: { repositoryUrl: "https://gitea.example/acme/widgets", accessToken: "t", serviceType: "Gitea" },
  });

  const deliveries = await client.GET("/projects/{projectId}/repository-connection/deliveries", {
    params: { path: { projectId }, query: { limit: 20 } },
    headers,
  });
  for (const delivery of deliveries.data?.deliveries ?? []) {
    shownOutcome = delivery.outcome;
    lines.push(`${delivery.receivedAt} ${delivery.eventKind} ${shownOutcome}`);
  }
  const next: string | null | undefined = deliveries.data?.nextCursor;
  if (next) {
    await client.GET("/projects/{projectId}/repository-connection/deliveries", {
      params: { path: { projectId }, query: { cursor: next } },
      headers,
    });
  }

  const deleted = await client.DELETE("/projects/{projectId}/repository-connection", { params: path, headers });
  if (deleted.data !== undefined) {
    const removed: boolean = deleted.data.webhookRemoved;
    lines.push(`deleted: ${deleted.data.deleted}, webhook removed: ${removed}`);
  }

  // The providers' webhook receiver is not part of the frontend's client.
  // @ts-expect-error no such path in docs/openapi.json
  await client.POST("/webhooks/{connectionId}", { params: { path: { connectionId: "x" } } });

  lines.push(String(exact.serviceType));
  return lines;
}
