#!/usr/bin/python3
"""make_schema_data.py — the bundled model's training rows in its own prompt
format ("schema", src/agent/prompt.h): each question comes with the schema of
a real database as the agent renders it for that question (`sqlassist schema
--compact --budget N --tokens-of TOKENIZER --questions`: every table the
budget keeps, every column in schema order, keys and references), never only
the gold query's columns.

    /usr/bin/python3 scripts/make_schema_data.py SHARED_DATA OUTDIR \\
        --sqlassist ./sqlassist --tokens-of TOKENIZER.gguf --budget 320

Sources (counts per source go to OUTDIR/schema_counts.json):
  spider     Spider train questions on their real database files; the
             databases of Spider dev are never used.
  synthetic  scripts/make_synthetic.py pairs on the Spider train databases,
             the text2sql-data databases and the sample databases of
             shared/data (values from the rows, every query returns rows).
  wikisql    WikiSQL train: each table rebuilt as an SQLite table holding
             every column known for it (the union over its train questions)
             plus 2-4 columns of other tables, in shuffled order; values keep
             their case and strings are single-quoted.
Never used: Spider dev databases and questions, WikiSQL dev/test, examples/,
bench/. Rows are {"question", "context", "answer", "source"}; the trainer
reads question/context/answer. Fixed seed: the same inputs give the same file.
"""
import argparse
import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_train_data as mtd  # noqa: E402  (WikiSQL conversion)


def norm_q(q):
    return ' '.join(q.lower().split())


def stable_seed(*parts):
    return int(hashlib.sha256('\x00'.join(parts).encode()).hexdigest()[:16], 16)


def render(args, db_path, rows, relevant=False):
    """Runs the product's renderer over rows (dicts with 'question') for one database;
    relevant: only the tables the question names and those joining them
    (`--relevant`, as the agent prompts the bundled model)."""
    with tempfile.NamedTemporaryFile('w', suffix='.jsonl', delete=False, encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps({'question': r['question']}, ensure_ascii=False) + '\n')
        qpath = f.name
    try:
        out = subprocess.run([args.sqlassist, 'schema', '--db', db_path, '--compact', '--budget', str(args.budget),
                              '--tokens-of', args.tokens_of, '--questions', qpath] +
                             (['--relevant'] + (['--values'] if args.values else []) if relevant else []),
                             capture_output=True, text=True, encoding='utf-8')
    finally:
        os.unlink(qpath)
    if out.returncode != 0:
        print('note: %s: %s' % (db_path, out.stderr.strip()[:200]), file=sys.stderr)
        return []
    rendered = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    assert len(rendered) == len(rows), db_path
    return [dict(r, context=x['schema']) for r, x in zip(rows, rendered)]


def row_line(r):
    """A training row as one line of train_schema*.jsonl."""
    return json.dumps({'question': r['question'], 'context': r['context'], 'answer': r['answer'],
                       'source': r['source']}, ensure_ascii=False) + '\n'


def render_groups(args, groups, never, drop_unshown=False):
    """Renders [(db_path, rows, relevant)] through render() (relevant rows with value anchors
    when args.values), leaving out questions in
    never and repeating Spider rows --spider-copies times: (rows, counts per source).
    drop_unshown: leave out rows whose answer reads a table the rendering left out."""
    counts, rows = {}, []
    for i, (path, items, relevant) in enumerate(groups):
        items = [r for r in items if norm_q(r['question']) not in never]
        for r in render(args, path, items, relevant):
            if drop_unshown and not shows_tables(r):
                counts['dropped_table_not_shown'] = counts.get('dropped_table_not_shown', 0) + 1
                continue
            copies = args.spider_copies if r['source'] == 'spider' else 1
            rows.extend([r] * copies)
            counts[r['source']] = counts.get(r['source'], 0) + copies
        if i % 500 == 0:
            print('rendered %d/%d databases, %d rows' % (i + 1, len(groups), len(rows)), file=sys.stderr)
    return rows, counts


def write_rows(out, name, counts_name, rows, counts, seed):
    """Shuffles rows (fixed seed) into OUT/name, their counts (and the total) into OUT/counts_name."""
    random.Random(seed).shuffle(rows)
    with open(os.path.join(out, name), 'w', encoding='utf-8') as f:
        f.writelines(row_line(r) for r in rows)
    counts['total'] = len(rows)
    with open(os.path.join(out, counts_name), 'w') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
        f.write('\n')
    print(json.dumps(counts, sort_keys=True))


def held_out(data):
    """(Spider dev db_ids, Spider dev questions, every question never trained on:
    Spider dev, WikiSQL dev and test), questions normalized by norm_q."""
    with open(os.path.join(data, 'spider/dev.json'), encoding='utf-8') as f:
        dev = json.load(f)
    dev_dbs = {r['db_id'] for r in dev}
    dev_questions = {norm_q(r['question']) for r in dev}
    never = set(dev_questions)
    for s in ('dev', 'test'):
        for r in mtd.read_jsonl(os.path.join(data, 'wikisql/text2sql-data/wikisql_%s.flat.jsonl' % s)):
            never.add(norm_q(r['question']))
    return dev_dbs, dev_questions, never


def spider_rows(data, dev_dbs, dev_questions):
    with open(os.path.join(data, 'spider/train_spider.question_query_dbid.json'), encoding='utf-8') as f:
        items = json.load(f)
    by_db = {}
    for it in items:
        if it['db_id'] in dev_dbs or norm_q(it['question']) in dev_questions:
            continue
        by_db.setdefault(it['db_id'], []).append(
            {'question': it['question'].strip(), 'answer': ' '.join(it['query'].split()), 'source': 'spider'})
    return by_db


def training_dbs(data, dev_dbs):
    """The databases synthetic pairs are made on: the Spider train databases
    (never one of dev_dbs), the text2sql-data databases, Chinook and Northwind."""
    dbs = sorted(p for p in (os.path.join(data, 'spider/database', d, d + '.sqlite')
                             for d in os.listdir(os.path.join(data, 'spider/database')) if d not in dev_dbs)
                 if os.path.exists(p))
    dbs += sorted(os.path.join(data, 'text2sql-data', f) for f in os.listdir(os.path.join(data, 'text2sql-data'))
                  if f.endswith('.sqlite'))
    dbs += [os.path.join(data, 'sample-db/Chinook_Sqlite.sqlite'), os.path.join(data, 'sample-db/northwind/northwind.sqlite')]
    return dbs


def synthetic_rows(args, data, dev_dbs, name='synthetic.jsonl', extra=(), dbs=None, source='synthetic', cwd=None):
    """Synthetic pairs (make_synthetic.py) on every training database, or on dbs:
    {db_path: rows} of that source. extra: more make_synthetic.py arguments
    (another seed, --shapes). cwd: dbs are file names in that directory, passed
    as such (make_synthetic.py seeds each database by the path it is given, so
    the pairs then do not depend on where the directory is)."""
    if dbs is None:
        dbs = training_dbs(data, dev_dbs)
    out = os.path.abspath(os.path.join(args.out, name))
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'make_synthetic.py'),
                    '--out', out, '--per-db', str(args.synthetic_per_db), '--seed', '1'] + list(extra) + list(dbs),
                   check=True, cwd=cwd)
    by_db = {}
    with open(out, encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            path = os.path.join(cwd, r['db_path']) if cwd else r['db_path']
            by_db.setdefault(path, []).append({'question': r['question'], 'answer': r['query'], 'source': source})
    return by_db


def single_quoted(sql):
    """WikiSQL's "text" literals as 'text' (SQLite reads double quotes as names first)."""
    return re.sub(r'"((?:[^"]|"")*)"', lambda m: "'" + m.group(1).replace('""', '"').replace("'", "''") + "'", sql)


def wikisql_dbs(data, tmp, limit, rng):
    """WikiSQL train tables as SQLite files: {db_path: rows}."""
    tables = {}
    for r in mtd.read_jsonl(os.path.join(data, 'wikisql/text2sql-data/wikisql_train.flat.jsonl')):
        c = mtd.convert_wikisql(r, keep_case=True)
        if c is None:
            continue
        m = re.match(r'CREATE TABLE (\S+) \((.*)\)$', c['context'])
        t = tables.setdefault(c['table_id'], {'name': m.group(1), 'cols': {}, 'rows': []})
        for cd in m.group(2).split(', '):
            name, typ = cd.rsplit(' ', 1)
            if t['cols'].get(name) != 'INTEGER':
                t['cols'][name] = typ
        t['rows'].append({'question': c['question'], 'answer': single_quoted(c['answer']), 'source': 'wikisql'})
    ids = sorted(tables)
    rng.shuffle(ids)
    all_cols = sorted({c for t in tables.values() for c in t['cols']})
    by_db, n = {}, 0
    for tid in ids:
        if n >= limit:
            break
        t = tables[tid]
        cols = dict(t['cols'])
        for c in rng.sample(all_cols, rng.randint(2, 4)):
            cols.setdefault(c, 'VARCHAR')
        names = sorted(cols)
        rng.shuffle(names)
        path = os.path.join(tmp, re.sub(r'[^A-Za-z0-9_-]', '_', tid) + '.sqlite')
        db = sqlite3.connect(path)
        db.execute('CREATE TABLE %s (%s)' % (t['name'], ', '.join('"%s" %s' % (c, cols[c]) for c in names)))
        db.commit()
        db.close()
        by_db[path] = t['rows']
        n += len(t['rows'])
    return by_db


def remix(out, synthetic_copies, wikisql_rows, seed=3):
    """OUT/train_schema_mix.jsonl from OUT/train_schema.jsonl: the rows of stage 3
    of models/make-bundled.sh. Everyday shapes (the synthetic pairs) weigh more,
    WikiSQL's single-table filters less: the rows are the same, only their
    weights change, so no new question or database comes in."""
    rows = {'spider': [], 'synthetic': [], 'wikisql': []}
    with open(os.path.join(out, 'train_schema.jsonl'), encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            rows[r['source']].append(line)
    mix = rows['spider'] + rows['synthetic'] * synthetic_copies + rows['wikisql'][:wikisql_rows]
    random.Random(seed).shuffle(mix)
    with open(os.path.join(out, 'train_schema_mix.jsonl'), 'w', encoding='utf-8') as f:
        f.writelines(mix)
    counts = {'spider': len(rows['spider']), 'synthetic': len(rows['synthetic']) * synthetic_copies,
              'wikisql': min(wikisql_rows, len(rows['wikisql'])), 'total': len(mix)}
    with open(os.path.join(out, 'schema_mix_counts.json'), 'w') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
        f.write('\n')
    print(json.dumps(counts, sort_keys=True))


# Stage 5's extra rows: plain lists (SELECT x FROM t, with and without a
# condition or a join), which stages 1-4 saw far less often than "the X with
# the most Y" (2,200 against 3,394 rows of the stage-3 mix); stage 4 answered
# "List the company names of the suppliers." with GROUP BY ... LIMIT 1.
LIST_SHAPES = 'list_all:6,list_where:3,join_list:2,count_all:1'


def add_synthetic(args, base, name, extra, source, seed, out, counts_name):
    """OUT/out: the rows of OUT/base plus new synthetic rows (make_synthetic.py
    with the extra arguments, written to OUT/name, on the training databases,
    never Spider dev or examples/), rendered as stages 2-5 were, each twice,
    shuffled with seed; counts (key source for the new rows) in OUT/counts_name."""
    dev_dbs, _, never = held_out(args.data)
    syn = synthetic_rows(args, args.data, dev_dbs, name, extra)
    rows = []
    for path in sorted(syn):
        items = [r for r in syn[path] if norm_q(r['question']) not in never]
        rows += [dict(r, source=source) for r in render(args, path, items)]
    with open(os.path.join(args.out, base), encoding='utf-8') as f:
        mix = f.readlines()
    mix += [row_line(r) for r in rows] * 2
    random.Random(seed).shuffle(mix)
    with open(os.path.join(args.out, out), 'w', encoding='utf-8') as f:
        f.writelines(mix)
    counts = {'mix': len(mix) - 2 * len(rows), source: 2 * len(rows), 'total': len(mix)}
    with open(os.path.join(args.out, counts_name), 'w') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
        f.write('\n')
    print(json.dumps(counts, sort_keys=True))


def stage5(args):
    """OUT/train_schema_mix5.jsonl: the stage-3 mix (OUT/train_schema_mix.jsonl)
    plus new synthetic plain-list rows (OUT/synthetic_lists.jsonl, seed 5, on the
    same training databases, never Spider dev or examples/), each twice."""
    add_synthetic(args, 'train_schema_mix.jsonl', 'synthetic_lists.jsonl', ['--seed', '5', '--shapes', LIST_SHAPES],
                  'synthetic_lists', 5, 'train_schema_mix5.jsonl', 'schema_mix5_counts.json')


# Stage 9's rows: everyday wording (make_synthetic.py --natural, seed 9: the
# verbs of date columns, "more than 500 pages", IS NULL, two dates compared,
# words around the question that change nothing) on the same training
# databases, rendered as stages 2-5 were, beside the rows of stage 5 (the
# stage-3 mix and the plain lists: without the lists a fine-tune forgets them
# and answers "List the company names of the suppliers." with one supplier).
def stage9(args):
    """OUT/train_schema9.jsonl: the rows of stage 5 (OUT/train_schema_mix5.jsonl)
    plus new --natural synthetic rows (OUT/synthetic9.jsonl), each twice; counts
    in OUT/schema9_counts.json."""
    add_synthetic(args, 'train_schema_mix5.jsonl', 'synthetic9.jsonl', ['--seed', '9', '--natural'],
                  'synthetic_natural', 9, 'train_schema9.jsonl', 'schema9_counts.json')


# Stage 6's rows: the schemas rendered as the agent now prompts the model
# (SC_RENDER_RELEVANT: the tables the question names and those joining them,
# all that fit when none is named), where stages 2-5 saw every table the budget
# kept; a row whose answer uses a table the rendering left out is dropped (the
# agent could not answer it either). New synthetic pairs (seed 6) beside the
# old ones, so that the model sees new questions on the same databases.
TABLE_REF = re.compile(r'\b(?:FROM|JOIN)\s+(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][A-Za-z0-9_]*))', re.I)
CONTEXT_TABLE = re.compile(r'CREATE TABLE\s+(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][A-Za-z0-9_]*))', re.I)


def names_of(pattern, text):
    return {next(g for g in m.groups() if g).lower() for m in pattern.finditer(text)}


def shows_tables(row):
    """Whether every table the answer reads (outside subquery aliases) is in the context."""
    used = names_of(TABLE_REF, row['answer']) - {'select'}
    return used <= names_of(CONTEXT_TABLE, row['context'])


def stage6(args):
    """OUT/train_schema6.jsonl: Spider train and the synthetic pairs (the stage-2
    ones, seed 1, new ones, seed 6, and stage 5's plain lists, seed 5) rendered with --relevant, WikiSQL rows as
    before; counts in OUT/schema6_counts.json."""
    dev_dbs, dev_questions, never = held_out(args.data)
    rng = random.Random(6)
    with tempfile.TemporaryDirectory() as tmp:
        groups = []
        sp = spider_rows(args.data, dev_dbs, dev_questions)
        groups += [(os.path.join(args.data, 'spider/database', d, d + '.sqlite'), sp[d], True) for d in sorted(sp)]
        for name, extra in (('synthetic.jsonl', []), ('synthetic6.jsonl', ['--seed', '6']),
                            ('synthetic_lists.jsonl', ['--seed', '5', '--shapes', LIST_SHAPES])):
            syn = synthetic_rows(args, args.data, dev_dbs, name, extra)
            groups += [(p, syn[p], True) for p in sorted(syn)]
        wk = wikisql_dbs(args.data, tmp, args.wikisql_rows, rng)
        groups += [(p, wk[p], False) for p in sorted(wk)]
        rows, counts = render_groups(args, groups, never, drop_unshown=True)
    if args.values:
        write_rows(args.out, 'train_schema7.jsonl', 'schema7_counts.json', rows, counts, 6)
    else:
        write_rows(args.out, 'train_schema6.jsonl', 'schema6_counts.json', rows, counts, 6)


# Stage 8's rows: the training databases under other names
# (scripts/make_variants.py: "customers"/"city" as "Clients"/"Town", other
# word styles and abbreviations), so that the model reads names it has not
# memorised: Spider train's questions with their gold queries rewritten to the
# new names (kept only when the rewritten query returns what the original
# returned on the original database; the questions keep their words, so they
# no longer echo the schema's names), and new synthetic pairs on the variants
# (seed 8). Rendered as stages 2-5 were (every table the budget keeps).
def same_result(orig_db, orig_sql, new_db, new_sql):
    try:
        with sqlite3.connect('file:%s?mode=ro' % orig_db, uri=True) as a, \
                sqlite3.connect('file:%s?mode=ro' % new_db, uri=True) as b:
            ra = a.execute(orig_sql).fetchmany(2000)
            rb = b.execute(new_sql).fetchmany(2000)
    except sqlite3.Error:
        return False
    return sorted(map(repr, ra)) == sorted(map(repr, rb))


def stage8(args):
    """OUT/train_schema8.jsonl: Spider train and synthetic rows on renamed copies
    of the training databases (OUT/variants) and as many rows of the stage-3 mix
    (OUT/train_schema_mix.jsonl); counts in OUT/schema8_counts.json."""
    import make_variants as mv
    dev_dbs, dev_questions, never = held_out(args.data)
    vdir = os.path.join(args.out, 'variants')
    dbs = training_dbs(args.data, dev_dbs)
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'make_variants.py'),
                    '--out', vdir, '--seed', '8'] + dbs, check=True)
    with open(os.path.join(vdir, 'renames.json')) as f:
        renames = json.load(f)
    db_ids = {p: os.path.basename(p).split('.')[0] for p in dbs}
    variant_of = {d: (p, os.path.join(vdir, d + '.v8.sqlite')) for p, d in db_ids.items()}
    counts = {'spider_variant_dropped': 0}
    groups = []
    sp = spider_rows(args.data, dev_dbs, dev_questions)
    for d in sorted(sp):
        if d not in variant_of or not os.path.exists(variant_of[d][1]):
            continue
        orig, var = variant_of[d]
        items = []
        for r in sp[d]:
            new_sql = mv.rename_sql(r['answer'], renames.get(d, {}))
            if same_result(orig, r['answer'], var, new_sql):
                items.append(dict(r, answer=new_sql, source='spider_variant'))
            else:
                counts['spider_variant_dropped'] += 1
        groups.append((var, items, False))
    vdbs = sorted(os.path.basename(v) for _, v in variant_of.values() if os.path.exists(v))
    syn = synthetic_rows(args, args.data, dev_dbs, 'synthetic8.jsonl', ['--seed', '8'], dbs=vdbs,
                         source='synthetic_variant', cwd=vdir)
    groups += [(p, syn[p], False) for p in sorted(syn)]
    rows, c = render_groups(args, groups, never)   # once each: only 'spider' rows take --spider-copies
    counts.update(c)
    with open(os.path.join(args.out, 'train_schema_mix.jsonl'), encoding='utf-8') as f:
        mix = f.readlines()
    # as many stage-3 rows as new ones, drawn at random: the new names weigh
    # half, the old rows keep what the model knows
    mix = random.Random(8).sample(mix, min(len(mix), len(rows)))
    counts['mix'] = len(mix)
    mix += [row_line(r) for r in rows]
    random.Random(8).shuffle(mix)
    with open(os.path.join(args.out, 'train_schema8.jsonl'), 'w', encoding='utf-8') as f:
        f.writelines(mix)
    counts['total'] = len(mix)
    with open(os.path.join(args.out, 'schema8_counts.json'), 'w') as f:
        json.dump(counts, f, indent=1, sort_keys=True)
        f.write('\n')
    print(json.dumps(counts, sort_keys=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('data')
    ap.add_argument('out')
    ap.add_argument('--sqlassist', default='./sqlassist')
    ap.add_argument('--tokens-of')
    ap.add_argument('--budget', type=int, default=320)
    ap.add_argument('--wikisql-rows', type=int, default=24000)
    ap.add_argument('--synthetic-per-db', type=int, default=150)
    ap.add_argument('--spider-copies', type=int, default=2, help='times each Spider train row is repeated')
    ap.add_argument('--remix', action='store_true',
                    help='only write OUT/train_schema_mix.jsonl from OUT/train_schema.jsonl (see remix())')
    ap.add_argument('--synthetic-copies', type=int, default=2, help='with --remix: times each synthetic row is repeated')
    ap.add_argument('--mix-wikisql-rows', type=int, default=12000, help='with --remix: WikiSQL rows kept')
    ap.add_argument('--stage5', action='store_true',
                    help='only write OUT/train_schema_mix5.jsonl (see stage5(); needs --tokens-of, OUT/train_schema_mix.jsonl)')
    ap.add_argument('--stage6', action='store_true',
                    help='only write OUT/train_schema6.jsonl (see stage6(); needs --tokens-of)')
    ap.add_argument('--values', action='store_true',
                    help='with --stage6: value anchors in the rows rendered with --relevant (sqlassist schema '
                         '--values), written to OUT/train_schema7.jsonl and OUT/schema7_counts.json instead')
    ap.add_argument('--stage8', action='store_true',
                    help='only write OUT/train_schema8.jsonl (see stage8(); needs --tokens-of, OUT/train_schema_mix.jsonl)')
    ap.add_argument('--stage9', action='store_true',
                    help='only write OUT/train_schema9.jsonl (see stage9(); needs --tokens-of, OUT/train_schema_mix5.jsonl)')
    args = ap.parse_args()
    if args.stage9:
        if not args.tokens_of:
            ap.error('--tokens-of is required (the model whose tokenizer measures the budget)')
        stage9(args)
        return
    if args.stage8:
        if not args.tokens_of:
            ap.error('--tokens-of is required (the model whose tokenizer measures the budget)')
        stage8(args)
        return
    if args.stage6:
        if not args.tokens_of:
            ap.error('--tokens-of is required (the model whose tokenizer measures the budget)')
        os.makedirs(args.out, exist_ok=True)
        stage6(args)
        return
    if args.stage5:
        if not args.tokens_of:
            ap.error('--tokens-of is required (the model whose tokenizer measures the budget)')
        stage5(args)
        return
    if args.remix:
        remix(args.out, args.synthetic_copies, args.mix_wikisql_rows)
        return
    if not args.tokens_of:
        ap.error('--tokens-of is required (the model whose tokenizer measures the budget)')
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(1)
    dev_dbs, dev_questions, never = held_out(args.data)

    with tempfile.TemporaryDirectory() as tmp:
        groups = []
        sp = spider_rows(args.data, dev_dbs, dev_questions)
        groups += [(os.path.join(args.data, 'spider/database', d, d + '.sqlite'), sp[d], False) for d in sorted(sp)]
        if args.synthetic_per_db > 0:
            syn = synthetic_rows(args, args.data, dev_dbs)
            groups += [(p, syn[p], False) for p in sorted(syn)]
        wk = wikisql_dbs(args.data, tmp, args.wikisql_rows, rng)
        groups += [(p, wk[p], False) for p in sorted(wk)]
        rows, counts = render_groups(args, groups, never)
    counts['budget_tokens'] = args.budget
    write_rows(args.out, 'train_schema.jsonl', 'schema_counts.json', rows, counts, 2)

if __name__ == '__main__':
    main()
