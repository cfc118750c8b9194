"""The store read by other engines (tests/scripts/open_tables.sh).

Runs every ```python snippet of README.md's "Reading the store from other engines" section
against a store, then compares what each engine answered with what Groundtruth answers for
the same question over psql (delta-rs: versions per source; Polars: the current state;
DuckDB: the newest scrape per source; PySpark: versions per source and change). The store was
compacted first, so a reader that ignored the Delta log and globbed the Parquet files would
count the replaced files' rows twice: a check proves such files are on disk.

Usage: open_tables.py README STORE PORT   (psql on PATH; user and database are arbitrary)
"""
import datetime
import glob
import os
import re
import subprocess
import sys

from checklib import Runner, expect

SECTION = "## Reading the store from other engines"
UTC = datetime.timezone.utc


def readme_snippets(readme):
    """The ```python blocks of the section, in order."""
    text = open(readme, encoding="utf-8").read()
    expect(SECTION + "\n" in text, f"README has no section '{SECTION}'")
    section = text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def groundtruth(port, sql):
    """Groundtruth's answer over psql: rows of text fields."""
    output = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "open_tables",
         "-d", "groundtruth", "-A", "-t", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    return [tuple(line.split("\t")) for line in output.splitlines() if line]


def micros(value):
    """Microseconds since the epoch of an aware datetime, or of a naive one in UTC (Spark's)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(microseconds=1)


def same(name, engine_answer, groundtruth_answer):
    """Equal answers, else an error naming up to five rows each side has alone."""
    engine_answer, groundtruth_answer = sorted(engine_answer), sorted(groundtruth_answer)
    expect(groundtruth_answer, f"{name}: Groundtruth answered nothing (the store is empty?)")
    if engine_answer != groundtruth_answer:
        only_engine = sorted(set(engine_answer) - set(groundtruth_answer))[:5]
        only_groundtruth = sorted(set(groundtruth_answer) - set(engine_answer))[:5]
        raise AssertionError(f"{name} differs: engine only {only_engine}, Groundtruth only {only_groundtruth}")


def main():
    readme, store, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runner = Runner("open-tables")
    snippets = readme_snippets(readme)
    namespaces = {}

    def run_snippet(index):
        namespace = {"store": store}
        exec(compile(snippets[index], f"README open-tables snippet {index + 1}", "exec"), namespace)
        namespaces[index] = namespace

    def answer(index, name):
        """What README snippet `index` (0-based) left in variable `name`."""
        expect(name in namespaces.get(index, {}), f"README snippet {index + 1} did not run or defines no '{name}'")
        return namespaces[index][name]

    def four_snippets():
        expect(len(snippets) == 4, f"expected 4 python snippets (delta-rs, Polars, DuckDB, PySpark), found {len(snippets)}")

    runner.check("README has the four engine snippets", four_snippets)
    for index in range(len(snippets)):
        runner.check(f"README snippet {index + 1} runs", run_snippet, index)

    def deltars_versions_per_source():
        engine = [(source, str(count)) for source, count in answer(0, "versions_per_source").items()]
        same("versions per source", engine,
             groundtruth(port, "SELECT source, count(*) FROM storage.versions GROUP BY source"))

    def polars_current_state():
        current = answer(1, "current")
        engine = [(row["source"], row["kind"], row["id"], row["name"] or "") for row in current.iter_rows(named=True)]
        same("current state", engine, groundtruth(port, "SELECT source, kind, id, coalesce(name, '') FROM resources"))
        versions = answer(1, "versions")
        removed = versions.filter(versions["change"] == "removed")
        expect(removed.height > 0, "the store has no deletion marker, so the current-state check proves less")

    def duckdb_newest_scrapes():
        engine = [(source, str(micros(started_at)), status) for source, started_at, status in answer(2, "newest_scrapes")]
        same("newest scrape per source", engine, groundtruth(port, """
            SELECT s.source, CAST(CAST(s.started_at AS BIGINT) AS TEXT), s.status
            FROM scrapes s JOIN (SELECT source, max(started_at) AS newest FROM scrapes GROUP BY source) n
              ON s.source = n.source AND s.started_at = n.newest"""))

    def pyspark_changes_per_source():
        engine = [(row["source"], row["change"], str(row["n"])) for row in answer(3, "changes_per_source")]
        same("versions per source and change", engine,
             groundtruth(port, "SELECT source, change, count(*) FROM storage.versions GROUP BY source, change"))
        expect(any(row["change"] == "removed" for row in answer(3, "changes_per_source")),
               "no deletion marker read: the store's history has no removal")

    def globbing_would_double_count():
        from deltalake import DeltaTable

        listed = {os.path.abspath(path) for path in DeltaTable(f"{store}/versions").file_uris()}
        on_disk = {os.path.abspath(path) for path in glob.glob(f"{store}/versions/*.parquet")}
        expect(listed <= on_disk, f"the log lists files not on disk: {sorted(listed - on_disk)[:3]}")
        expect(on_disk - listed, "compaction left no replaced file on disk: the file-list checks prove nothing")
        import duckdb

        globbed = duckdb.sql(f"SELECT count(*) FROM read_parquet('{store}/versions/*.parquet')").fetchall()[0][0]
        expect(globbed > sum(answer(0, "versions_per_source").values()),
               f"globbing counts {globbed} rows, no more than the log's: the replaced files hold nothing")

    runner.check("delta-rs: versions per source equal storage.versions", deltars_versions_per_source)
    runner.check("Polars: the current state equals resources", polars_current_state)
    runner.check("DuckDB (log's files): the newest scrape per source equals scrapes", duckdb_newest_scrapes)
    runner.check("PySpark (log's files): versions per change equal storage.versions", pyspark_changes_per_source)
    runner.check("compaction left replaced files that a glob would double count", globbing_would_double_count)
    runner.finish()


if __name__ == "__main__":
    main()
