#!/usr/bin/env python3
"""Builds the default 50-task benchmark suite (bench/suite/) from the public data in
../shared/data: 40 Spider dev questions over four databases (copied beside the tasks),
mixing single-table and multi-table (JOIN) queries, and 10 sql-create-context questions
(schema-only, judged by test-suite accuracy). Deterministic: same input, same output.

    python3 bench/make_suite.py            # writes bench/suite/tasks.jsonl and databases/
"""
import json
import os
import shutil
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data")
OUT = os.path.join(HERE, "suite")
DBS = {"concert_singer": 10, "pets_1": 10, "car_1": 10, "employee_hire_evaluation": 10}


def runs(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        con.execute(sql).fetchall()
        return True
    except sqlite3.Error:
        return False
    finally:
        con.close()


def main():
    dev = json.load(open(os.path.join(DATA, "spider", "dev.json")))
    os.makedirs(os.path.join(OUT, "databases"), exist_ok=True)
    tasks = []
    for db_id, want in DBS.items():
        src = os.path.join(DATA, "spider", "database", db_id, db_id + ".sqlite")
        dst_dir = os.path.join(OUT, "databases", db_id)
        os.makedirs(dst_dir, exist_ok=True)
        shutil.copyfile(src, os.path.join(dst_dir, db_id + ".sqlite"))
        items = [x for x in dev if x["db_id"] == db_id]
        single = [x for x in items if " join " not in x["query"].lower()]
        multi = [x for x in items if " join " in x["query"].lower()]
        # every other question, half single-table and half with joins (fewer when the db has few joins)
        picked = multi[: want // 2 : 1] if len(multi) >= want // 2 else multi
        picked = picked + single[: want - len(picked)]
        for x in picked:
            assert runs(src, x["query"]), x["query"]
            tasks.append({"question": x["question"], "db_id": db_id, "query": x["query"], "source": "spider-dev"})
    scc = os.path.join(DATA, "sql-create-context", "sql_create_context_first4000.unwrapped.jsonl")
    rows = [json.loads(l) for l in open(scc, encoding="utf-8")]
    def gold_ok(r):
        con = sqlite3.connect(":memory:")
        try:
            con.executescript(r["context"])
            con.execute(r["answer"]).fetchall()
            return True
        except sqlite3.Error:
            return False
        finally:
            con.close()
    for r in [r for r in rows[200:4000:370] if gold_ok(r)][:10]:
        tasks.append({"question": r["question"], "context": r["context"], "answer": r["answer"],
                      "source": "sql-create-context"})
    with open(os.path.join(OUT, "tasks.jsonl"), "w", encoding="utf-8") as f:
        for t in tasks:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(f"wrote {len(tasks)} tasks to {OUT}/tasks.jsonl")


if __name__ == "__main__":
    main()
