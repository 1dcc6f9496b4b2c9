#!/usr/bin/python3
"""make_train_data.py — the bundled model's training, validation and test
files, in the sql-create-context format, from the public data in shared/data.

    /usr/bin/python3 scripts/make_train_data.py SHARED_DATA OUTDIR

Writes OUTDIR/train.jsonl, OUTDIR/wikisql_dev.jsonl, OUTDIR/wikisql_test.jsonl
(rows {"question", "context", "answer"}) and OUTDIR/counts.json.

WikiSQL (text2sql-data's flattened copy, real column names) is converted the
way sql-create-context converted it:
  * the context is one `CREATE TABLE` holding only the columns the query uses,
    in the order the query uses them; names in snake_case (lower case, `#`
    becomes `_number`, `%` becomes `_percentage`, anything else that is not a
    letter or digit becomes `_`);
  * a column is INTEGER when it is under MIN/MAX/SUM/AVG or compared with
    < or >, VARCHAR otherwise;
  * tables `1-N-M` become `table_N_M` and keep the values' case; tables
    `2-...` become `table_name_K` (K from a hash of the table id, 0..99) and
    their string values are lower-cased, as in the published dataset;
  * strings are double-quoted, numbers bare.
The train split is used for training; dev and test are written apart and
never trained on. Also trained on: the sql-create-context rows (Spider part)
minus those whose question is a Spider dev question, and the MobileAIBench
sample's WikiSQL rows whose question is in WikiSQL train (dev/test ones are
dropped). Rows are deduplicated by (question, context).
"""
import hashlib
import json
import random
import os
import re
import sys

SELECT_RE = re.compile(r'^SELECT (?:(COUNT|MAX|MIN|SUM|AVG) )?(?:TABLEalias0\.)?(\S+?)_FIELD '
                       r'FROM TABLE AS TABLEalias0(?: WHERE (.*))? ;$')
COND_RE = re.compile(r'^(?:TABLEalias0\.)?(\S+?)_FIELD (=|>|<) (.*)$')
# A condition starts with a field; splitting on " AND " followed by one keeps
# values that contain " AND " whole.
COND_SPLIT_RE = re.compile(r' AND (?=(?:TABLEalias0\.)?\S+?_FIELD (?:=|>|<) )')


def snake(field):
    s = field.lower().replace('#', '_number').replace('%', '_percentage')
    return re.sub(r'[^a-z0-9_]', '_', s)


def table_name(table_id):
    if table_id.startswith('1-'):
        return 'table_' + table_id[2:].replace('-', '_'), False
    k = int(hashlib.sha256(table_id.encode()).hexdigest(), 16) % 100
    return 'table_name_%d' % k, True


def parse_value(v, lower):
    """A flattened value: "text" with "" inside, or a bare number."""
    if v.startswith('"'):
        if not v.endswith('"') or len(v) < 2:
            return None
        text = v[1:-1].replace('""', '"')
        if lower:
            text = text.lower()
        return '"' + text.replace('"', '""') + '"'
    if re.fullmatch(r'-?[0-9]+(\.[0-9]+)?', v):
        return v
    return None


def convert_wikisql(row, keep_case=False):
    """One text2sql-data flat row -> sql-create-context row, or None.
    keep_case: values as WikiSQL wrote them, never lower-cased."""
    m = SELECT_RE.match(row['sql'])
    if not m:
        return None
    agg, sel, where = m.group(1), snake(m.group(2)), m.group(3)
    tname, lower = table_name(row['table_id'])
    lower = lower and not keep_case
    cols, integer = [sel], set()
    if agg in ('MAX', 'MIN', 'SUM', 'AVG'):
        integer.add(sel)
    conds = []
    if where:
        for c in COND_SPLIT_RE.split(where):
            cm = COND_RE.match(c)
            if not cm:
                return None
            col, op, val = snake(cm.group(1)), cm.group(2), parse_value(cm.group(3), lower)
            if val is None:
                return None
            if op != '=':
                integer.add(col)
            if col not in cols:
                cols.append(col)
            conds.append('%s %s %s' % (col, op, val))
    if any(not re.match(r'^[a-z_]', c) for c in cols):
        return None  # a name starting with a digit would need quoting
    target = '%s(%s)' % (agg, sel) if agg else sel
    sql = 'SELECT %s FROM %s' % (target, tname)
    if conds:
        sql += ' WHERE ' + ' AND '.join(conds)
    context = 'CREATE TABLE %s (%s)' % (
        tname, ', '.join('%s %s' % (c, 'INTEGER' if c in integer else 'VARCHAR') for c in cols))
    question = row['question'].strip()
    if not question:
        return None
    return {'question': question, 'context': context, 'answer': sql, 'table_id': row['table_id']}


def norm_q(q):
    return ' '.join(q.lower().split())


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: make_train_data.py SHARED_DATA OUTDIR')
    data, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    counts = {}
    splits = {}
    for split in ('train', 'dev', 'test'):
        rows, dropped = [], 0
        for r in read_jsonl(os.path.join(data, 'wikisql/text2sql-data/wikisql_%s.flat.jsonl' % split)):
            c = convert_wikisql(r)
            if c is None:
                dropped += 1
            else:
                rows.append(c)
        splits[split] = rows
        counts['wikisql_%s' % split] = len(rows)
        counts['wikisql_%s_dropped' % split] = dropped

    held_out = {norm_q(r['question']) for s in ('dev', 'test') for r in splits[s]}
    for s in ('dev', 'test'):
        for r in read_jsonl(os.path.join(data, 'wikisql/text2sql-data/wikisql_%s.flat.jsonl' % s)):
            held_out.add(norm_q(r['question']))
    spider_dev = set()
    with open(os.path.join(data, 'spider/dev.json'), encoding='utf-8') as f:
        for r in json.load(f):
            spider_dev.add(norm_q(r['question']))

    train, seen = [], set()

    def add(r, source):
        key = (norm_q(r['question']), r['context'])
        if key in seen or norm_q(r['question']) in held_out:
            counts[source + '_skipped'] = counts.get(source + '_skipped', 0) + 1
            return
        seen.add(key)
        train.append({'question': r['question'], 'context': r['context'], 'answer': r['answer']})
        counts[source] = counts.get(source, 0) + 1

    for r in splits['train']:
        add(r, 'wikisql_train_used')
    for r in read_jsonl(os.path.join(data, 'sql-create-context/sql_create_context_first4000.unwrapped.jsonl')):
        if norm_q(r['question']) in spider_dev:
            counts['scc_spider_dev_dropped'] = counts.get('scc_spider_dev_dropped', 0) + 1
            continue
        add(r, 'scc_spider')
    for r in read_jsonl(os.path.join(data, 'sql-create-context/mobileaibench_sample.dedup.jsonl')):
        if norm_q(r['question']) in spider_dev:
            continue
        add(r, 'scc_mobileaibench')

    def write(name, rows):
        with open(os.path.join(out, name), 'w', encoding='utf-8') as f:
            for r in rows:
                r = {k: v for k, v in r.items() if k != 'table_id'}
                f.write(json.dumps(r, ensure_ascii=False) + '\n')

    write('train.jsonl', train)
    write('wikisql_dev.jsonl', splits['dev'])
    write('wikisql_test.jsonl', splits['test'])
    # The all-columns layout: each question's context lists every column
    # known for its table (the union over all its questions of every split),
    # in an order fixed by a seeded shuffle, so the context no longer gives
    # the answer's columns or their order away. Its values keep WikiSQL's
    # case: lower-casing them is sql-create-context's quirk, not the task's.
    known = {}
    for split in ('train', 'dev', 'test'):
        for r in splits[split]:
            m = re.match(r'CREATE TABLE (\S+) \((.*)\)$', r['context'])
            cols = known.setdefault(r['table_id'], {})
            for cd in m.group(2).split(', '):
                name, typ = cd.rsplit(' ', 1)
                if cols.get(name) != 'INTEGER':
                    cols[name] = typ
    rng = random.Random(1234)
    layout = {}
    for t in sorted(known):
        names = sorted(known[t])
        rng.shuffle(names)
        layout[t] = ', '.join('%s %s' % (c, known[t][c]) for c in names)
    for s in ('dev', 'test'):
        cased = [convert_wikisql(r, keep_case=True) for r in
                 read_jsonl(os.path.join(data, 'wikisql/text2sql-data/wikisql_%s.flat.jsonl' % s))]
        splits[s] = [r for r in cased if r is not None]
        rows = [dict(r, context='CREATE TABLE %s (%s)' % (r['context'].split(' ', 3)[2], layout[r['table_id']]))
                for r in splits[s]]
        write('wikisql_%s_allcols.jsonl' % s, rows)
    counts['train_total'] = len(train)
    with open(os.path.join(out, 'counts.json'), 'w') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
        f.write('\n')
    print(json.dumps(counts, sort_keys=True))


if __name__ == '__main__':
    main()
