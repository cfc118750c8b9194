"""Drive `groundtruth mcp` with the official MCP Python SDK (PyPI `mcp`), over stdio or
streamable HTTP, and check every tool, the resources, the freshness envelope and the errors.

    mcp_check.py stdio BINARY CONFIG SUITE
    mcp_check.py http URL SUITE

SUITE `fixture` expects the store tests/tests/integration/mcp.rs builds (Terraform source `tf` with two
versions, source `broken` whose only scrape failed); `demo` expects `groundtruth demo`'s store
and asks the questions the README's "For agents" section shows. Exits non-zero on the first
failed check, printing what was wrong."""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

TOOLS = {"list_tables", "describe_table", "list_named_queries", "run_named_query", "sql",
         "resource", "drift"}


def check(condition, message):
    if not condition:
        print(f"FAIL {message}", file=sys.stderr)
        sys.exit(1)


def dump(result):
    return result.model_dump(by_alias=True, mode="json")


class Agent:
    def __init__(self, session):
        self.session = session
        self.calls = 0

    async def call(self, tool, **arguments):
        """Call a tool; return (is_error, structured content), checking the envelope."""
        result = dump(await self.session.call_tool(tool, arguments))
        self.calls += 1
        body = result.get("structuredContent")
        check(isinstance(body, dict), f"{tool}: structured content missing: {result}")
        freshness = body.get("freshness")
        check(isinstance(freshness, dict) and freshness.get("as_of"),
              f"{tool}: no freshness envelope: {body}")
        for source in freshness["sources"]:
            for field in ("source", "last_status", "last_success_at", "staleness_seconds",
                          "stale", "last_error"):
                check(field in source, f"{tool}: envelope source lacks {field}: {source}")
        text = [block.get("text", "") for block in result.get("content", [])]
        is_error = bool(result.get("isError"))
        if is_error:
            # An error leads with its SQLSTATE; the envelope still travels in the body.
            check(text and text[0].startswith("ERROR "),
                  f"{tool}: the error is not the first text line: {text[:1]}")
        elif freshness.get("warning"):
            check(text and text[0] == freshness["warning"],
                  f"{tool}: the warning is not the first text line: {text[:1]}")
        return is_error, body

    async def ok(self, tool, **arguments):
        is_error, body = await self.call(tool, **arguments)
        check(not is_error, f"{tool} {arguments}: unexpected error {body.get('error')}")
        return body

    async def error(self, tool, sqlstate, fragment, **arguments):
        is_error, body = await self.call(tool, **arguments)
        check(is_error, f"{tool} {arguments}: expected an error, got {body}")
        error = body["error"]
        check(error["sqlstate"] == sqlstate and fragment in error["message"],
              f"{tool} {arguments}: expected {sqlstate} with '{fragment}', got {error}")
        return body


def warned_sources(body):
    return {source["source"] for source in body["freshness"]["sources"]
            if source["stale"] or source["last_status"] == "failed"}


async def common(agent):
    session = agent.session
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    check(set(tools) == TOOLS, f"tools: {sorted(tools)}")
    for tool in tools.values():
        schema = dump(tool)["inputSchema"]
        check(schema.get("type") == "object", f"{tool.name}: input schema {schema}")
    names = dump(tools["run_named_query"])["inputSchema"]["properties"]["name"]["enum"]
    check("consumers_of" in names, f"run_named_query enum: {names}")

    resources = {str(resource.uri) for resource in (await session.list_resources()).resources}
    check(resources == {"groundtruth://schema", "groundtruth://queries"}, f"resources {resources}")
    schema = json.loads(dump(await session.read_resource("groundtruth://schema"))["contents"][0]["text"])
    tables = {table["name"]: table for table in schema["tables"]}
    check("drift" in tables and "resources" in tables, f"schema tables: {sorted(tables)}")
    status = [column for column in tables["drift"]["columns"] if column["name"] == "status"]
    check(status and "missing" in (status[0]["description"] or ""), f"drift.status: {status}")
    catalog = json.loads(dump(await session.read_resource("groundtruth://queries"))["contents"][0]["text"])
    consumers = [query for query in catalog["queries"] if query["name"] == "consumers_of"]
    check(consumers and consumers[0]["parameters"]["required"] == ["queue"], f"catalog: {consumers}")

    listed = await agent.ok("list_tables")
    check({"drift", "sources", "changes"} <= {table["name"] for table in listed["tables"]},
          f"list_tables: {listed['tables'][:3]}")
    described = await agent.ok("describe_table", name="sources")
    columns = {column["name"]: column for column in described["table"]["columns"]}
    check("last_success_at" in columns and columns["last_success_at"]["description"],
          f"describe_table sources: {described}")
    await agent.error("describe_table", "22023", "no table or function 'nope'", name="nope")
    queries = await agent.ok("list_named_queries")
    since = [query for query in queries["queries"] if query["name"] == "changes_in_source"][0]
    check(since["parameters"]["properties"]["source"]["type"] == "string", f"schema: {since}")

    await agent.error("sql", "42601", "syntax error", query="SELEC 1")
    await agent.error("sql", "42P01", "nope", query="SELECT * FROM nope")
    await agent.error("sql", "25006", "read-only", query="DROP TABLE resources")
    await agent.error("sql", "25006", "read-only", query="INSERT INTO scrapes VALUES (1)")
    await agent.error("sql", "22023", "unknown argument", query="SELECT 1", limit=3)
    await agent.error("run_named_query", "22023", "no named query 'nope'", name="nope")
    await agent.error("resource", "22023", "give id or name")
    await agent.error("drift", "22023", "unknown status 'drifting'", status=["drifting"])
    cut = await agent.ok("sql", query="SELECT kind, id FROM resources", max_rows=1)
    check(cut["row_count"] == 1 and cut["truncated"] is True, f"max_rows: {cut}")


async def fixture(agent):
    changes = await agent.ok("run_named_query", name="changes_in_source",
                             parameters={"source": "tf", "since": "2000-01-01"})
    modified = {row["id"] for row in changes["rows"] if row["change"] == "modified"}
    check(modified == {"aws_db_instance.orders", "aws_lambda_function.order_processor",
                       "aws_sqs_queue.orders"}, f"changes_in_source: {modified}")
    check([source["source"] for source in changes["freshness"]["sources"]] == ["tf"]
          and changes["freshness"]["warning"] is None, f"envelope of tf rows: {changes['freshness']}")
    await agent.error("run_named_query", "22023", "parameter 'since' must be a timestamp",
                      name="changes_in_source", parameters={"source": "tf", "since": "last tuesday"})
    await agent.error("run_named_query", "22023", "parameter 'source' is required",
                      name="changes_in_source")

    # An answer naming no source rests on every source: the failed one is warned about.
    counted = await agent.ok("sql", query="SELECT count(*) AS n FROM resources")
    warning = counted["freshness"]["warning"] or ""
    check("'broken' failed its last scrape" in warning and warned_sources(counted) == {"broken"},
          f"envelope of a sourceless answer: {counted['freshness']}")
    broken = [source for source in counted["freshness"]["sources"] if source["source"] == "broken"][0]
    check(broken["last_error"] and broken["last_success_at"] is None, f"broken: {broken}")

    found = await agent.ok("resource", name="ORDER_PROCESSOR", history=True)
    check([row["id"] for row in found["resources"]] == ["aws_lambda_function.order_processor"],
          f"resource now: {found['resources']}")
    history = found["history"]
    check(len(history) == 2 and history[0]["change"] == "added" and history[1]["change"] == "modified"
          and history[0]["valid_to"] == history[1]["valid_from"], f"history: {history}")
    check(isinstance(found["resources"][0]["attrs"], dict), "attrs is nested JSON")
    before = await agent.ok("resource", id="aws_sqs_queue.orders", at="2000-01-01")
    check(before["resources"] == [] and before["freshness"]["as_of"] == "2000-01-01T00:00:00Z",
          f"resource at 2000: {before}")
    drift = await agent.ok("drift", status=["missing", "unmanaged", "changed", "in_sync", "stale"])
    check("columns" in drift and "status" in drift["columns"], f"drift: {drift}")


async def demo(agent):
    # "Is the billing worker's memory what IaC says, and how sure are you?"
    billing = await agent.ok("drift", id="billing-worker", kind="aws_lambda_function")
    rows = billing["drift"]
    check(len(rows) == 1 and rows[0]["status"] == "changed", f"billing-worker drift: {rows}")
    memory = [d for d in rows[0]["differences"] if d["path"] == "memory_size"]
    check(memory and str(memory[0]["live"]) == str(2 * int(memory[0]["declared"])),
          f"billing-worker memory: {rows[0]['differences']}")
    check({s["source"] for s in billing["freshness"]["sources"]} == {"synthetic_iac", "synthetic_cloud"}
          and billing["freshness"]["warning"] is None, f"billing envelope: {billing['freshness']}")
    # "What consumes queue orders-jobs, and since when?"
    consumers = await agent.ok("run_named_query", name="consumers_of", parameters={"queue": "orders-jobs"})
    functions = {(row["function"] or "").rsplit(":", 1)[-1]: row for row in consumers["rows"]
                 if row["layer"] == "live"}
    check("reports-worker" in functions and functions["reports-worker"]["consuming_since"],
          f"consumers of orders-jobs: {consumers['rows']}")
    # "Did anything change in the last hour that is not in IaC?"
    recent = await agent.ok("sql", query=(
        "SELECT l.source, l.kind, l.id, l.change, l.changed_at FROM changes(now() - INTERVAL '1 hour', now()) l "
        "WHERE l.layer = 'live' AND NOT EXISTS (SELECT 1 FROM changes(now() - INTERVAL '1 hour', now()) d "
        "WHERE d.layer = 'declared' AND d.kind = l.kind AND d.id = l.id)"))
    check(recent["freshness"]["as_of"] and "rows" in recent, f"recent changes: {recent}")


async def run(transport, target, suite, config=None):
    if transport == "stdio":
        parameters = StdioServerParameters(command=target, args=["--config", config, "mcp"],
                                           env={"RUST_LOG": "warn"})
        context = stdio_client(parameters)
    else:
        context = streamable_http_client(target)
    async with context as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            agent = Agent(session)
            await common(agent)
            await {"fixture": fixture, "demo": demo}[suite](agent)
            print(f"ok   mcp {transport} {suite}: {agent.calls} tool calls checked")


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        asyncio.run(run("stdio", sys.argv[2], sys.argv[4], config=sys.argv[3]))
    else:
        asyncio.run(run("http", sys.argv[2], sys.argv[3]))
