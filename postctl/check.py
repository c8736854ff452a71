"""Compare the live database with the model and the settings postctl needs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, inspect, select, text

from postctl import galera
from postctl.schema import metadata


@dataclass
class CheckReport:
    """What `check` found: problems to fix, facts that are fine, and row counts."""

    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    refused: bool = False  # a Galera node out of the primary component answers no query


def check(conn: Connection) -> CheckReport:
    """Compare the live schema with the model and, on MySQL, the connection settings."""
    report = CheckReport()
    if conn.dialect.name in ("mysql", "mariadb") and not _check_galera(conn, report):
        report.refused = True
        return report
    existing = set(inspect(conn).get_table_names())
    for table in metadata.tables.values():
        if table.name not in existing:
            report.problems.append(
                f"table {table.name} is missing; run `postctl reset-db` to create it"
            )
            continue
        _check_columns(conn, table, report)
        report.counts[table.name] = int(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
        )
    if conn.dialect.name in ("mysql", "mariadb"):
        _check_mysql(conn, existing, report)
    elif conn.dialect.name == "postgresql":
        _check_postgres(conn, report)
    return report


def _check_galera(conn: Connection, report: CheckReport) -> bool:
    """Report a Galera node's cluster; return False when the node refuses queries."""
    state = galera.node_state(conn)
    if state is None:
        return True
    summary = (
        f"Galera: wsrep on, cluster size {state.cluster_size}, {state.cluster_status}, "
        f"{state.local_state}"
    )
    if state.usable:
        report.facts.append(summary)
        return True
    report.problems.append(galera_problem(state))
    return state.answers


def galera_problem(state: galera.NodeState) -> str:
    """Say what is wrong with a Galera node that is not a Synced member of the primary one."""
    return (
        f"Galera: wsrep on, cluster size {state.cluster_size}, {state.cluster_status}, "
        f"{state.local_state}: this node is not a Synced member of the primary component; "
        "reset-db and load-fixtures --replace/--upsert refuse here. Use another node, or "
        "wait until it has rejoined (its error log says why it left)"
    )


def _type_text(conn: Connection, type_: Any) -> str:
    """Render a column type comparably: MySQL's INT display width means nothing, nor its
    collation; PostgreSQL's TIMESTAMP WITH TIME ZONE is not TIMESTAMP WITHOUT."""
    rendered = re.split(r" (?:COLLATE|CHARACTER SET) ", str(type_.compile(dialect=conn.dialect)))
    return re.sub(r"^(INT|INTEGER)(\(\d+\))?$", "INTEGER", rendered[0].upper())


def _check_columns(conn: Connection, table: Table, report: CheckReport) -> None:
    live = {c["name"]: c for c in inspect(conn).get_columns(table.name)}
    fix = "run `postctl reset-db` to recreate the table (this deletes its rows)"
    for column in table.columns:
        found = live.pop(column.name, None)
        if found is None:
            report.problems.append(f"{table.name}.{column.name} is missing; {fix}")
            continue
        want, have = _type_text(conn, column.type), _type_text(conn, found["type"])
        if want != have:
            report.problems.append(f"{table.name}.{column.name} is {have}, expected {want}; {fix}")
        # SQLite reports an INTEGER PRIMARY KEY as nullable; no key can be NULL anyway.
        if not column.primary_key and bool(found["nullable"]) != bool(column.nullable):
            expected = "NULL" if column.nullable else "NOT NULL"
            report.problems.append(f"{table.name}.{column.name} should be {expected}; {fix}")
    for extra in live:
        report.problems.append(f"{table.name}.{extra} is not in the model; {fix}")
    if not any(p.startswith(f"{table.name}.") for p in report.problems):
        report.facts.append(f"table {table.name} matches the model")


def _check_mysql(conn: Connection, existing: set[str], report: CheckReport) -> None:
    sql_mode = str(conn.execute(text("SELECT @@SESSION.sql_mode")).scalar_one())
    if "STRICT_ALL_TABLES" in sql_mode or "STRICT_TRANS_TABLES" in sql_mode:
        report.facts.append("strict SQL mode is on")
    else:
        report.problems.append(f"strict SQL mode is off ({sql_mode or 'empty'})")
    charset = str(conn.execute(text("SELECT @@character_set_client")).scalar_one())
    if charset == "utf8mb4":
        report.facts.append("the connection uses utf8mb4")
    else:
        report.problems.append(f"the connection uses {charset}, not utf8mb4")
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, character_set_name "
            "FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND character_set_name IS NOT NULL"
        )
    ).all()
    for table_name, column_name, column_charset in rows:
        if table_name in existing and table_name in metadata.tables and column_charset != "utf8mb4":
            report.problems.append(
                f"{table_name}.{column_name} uses {column_charset}, not utf8mb4 "
                f"(Korean and emoji would fail); ALTER TABLE {table_name} CONVERT TO "
                "CHARACTER SET utf8mb4, or run `postctl reset-db`"
            )


def _check_postgres(conn: Connection, report: CheckReport) -> None:
    encoding = str(conn.execute(text("SHOW server_encoding")).scalar_one())
    if encoding == "UTF8":
        report.facts.append("the database encoding is UTF8")
    else:
        report.problems.append(
            f"the database encoding is {encoding}, not UTF8 (Korean and emoji would fail); "
            "create the database again with ENCODING 'UTF8' and load a dump into it"
        )
    client = str(conn.execute(text("SHOW client_encoding")).scalar_one())
    if client == "UTF8":
        report.facts.append("the connection uses UTF8")
    else:
        report.problems.append(f"the connection uses {client}, not UTF8")
