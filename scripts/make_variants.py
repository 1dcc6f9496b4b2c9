#!/usr/bin/python3
"""make_variants.py — copies of SQLite databases with their tables and columns
renamed, so that a small text-to-SQL model sees each training database under
names it has not memorised ("customers"/"city" as "clients"/"town", snake_case
as CamelCase, "quantity" as "qty").

    /usr/bin/python3 scripts/make_variants.py --out DIR [--seed 8] DB.sqlite [DB.sqlite ...]

Why: the bundled model answers questions on its training databases far better
than on a database it never saw (models/README.md); with only ~150 schemas it
can learn their names instead of reading the schema. A variant keeps every row
and every key, only the names change, so make_synthetic.py's questions (which
it words from the names) change with them.

Each name is split into words (make_synthetic.split_ident); each word with a
synonym or a common abbreviation takes one with probability 1/2; a table name's
last word flips between singular and plural with probability 1/4; and each
database is written in one style, drawn once: its own, snake_case or
CamelCase. Renames go through ALTER TABLE ... RENAME (SQLite rewrites the
foreign keys that name them); one SQLite refuses (a view or trigger that would
break) is skipped. One old name (compared without case) gets one new name in
every table, and a new name that is not a plain word, is an SQLite keyword or
is a name the database already has is not used. Output: DIR/<db_id>.v<seed>.sqlite,
one per input, and DIR/renames.json (old -> new per database). An input that
cannot be read as a database is skipped with a message naming it; when none is
left the script exits non-zero. The same inputs and seed give the same files. Standard library only.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_synthetic as ms  # noqa: E402  (word splitting, plurals, SQLite keywords)

# Words that can stand for each other in a schema (each group both ways).
SYNONYMS = [
    ('customer', 'client'), ('employee', 'staff', 'worker'), ('product', 'item'), ('order', 'purchase'),
    ('city', 'town'), ('country', 'nation'), ('price', 'cost'), ('student', 'pupil'),
    ('teacher', 'instructor'), ('course', 'class'), ('department', 'division'), ('company', 'firm'),
    ('phone', 'telephone'), ('start', 'begin'), ('end', 'finish'), ('singer', 'vocalist'), ('film', 'movie'), ('ship', 'vessel'), ('shop', 'store'),
    ('salary', 'wage', 'pay'), ('building', 'facility'), ('member', 'participant'),
    ('airport', 'airfield'), ('vehicle', 'car'), ('team', 'squad'), ('player', 'athlete'),
    ('author', 'writer'), ('document', 'file'), ('event', 'occasion'),
    ('location', 'place'), ('rating', 'score'), ('category', 'kind'),
    ('supplier', 'vendor'), ('invoice', 'bill'), ('payment', 'remittance'),
    ('manager', 'supervisor'), ('hotel', 'inn'), ('restaurant', 'eatery'), ('doctor', 'physician'),
    ('club', 'society'), ('song', 'track'), ('album', 'record'),
]
# Abbreviations make_synthetic.py spells out again in its questions.
ABBREVIATE = {full: short for short, full in ms.ABBREV.items() if ' ' not in full and short not in ('no', 'avg')}


def synonym_map():
    m = {}
    for group in SYNONYMS:
        for w in group:
            m.setdefault(w, [])
            m[w] += [x for x in group if x != w]
    return m


SYN = synonym_map()


def new_words(ws, rng, is_table):
    out = []
    for w in ws:
        base, was_plural = (ms.singular(w), True) if ms.looks_plural(w) else (w, False)
        choices = SYN.get(base, []) + ([ABBREVIATE[base]] if base in ABBREVIATE else [])
        if choices and rng.random() < 0.5:
            base = rng.choice(choices)
            w = ms.plural(base) if was_plural and base not in ABBREVIATE.values() else base
        out.append(w)
    if is_table and out and rng.random() < 0.25:
        last = out[-1]
        out[-1] = ms.singular(last) if ms.looks_plural(last) else ms.plural(last)
    return out


def styled(ws, style, original):
    if style == 'snake':
        return '_'.join(ws)
    if style == 'camel':
        return ''.join(w[:1].upper() + w[1:] for w in ws)
    # the database's own style: its separator and its case
    if '_' in original or ' ' in original or '-' in original:
        sep = '_'
    else:
        sep = ''
    if original[:1].isupper():
        return sep.join(w[:1].upper() + w[1:] for w in ws)
    if sep == '' and len(ws) > 1:
        return ws[0] + ''.join(w[:1].upper() + w[1:] for w in ws[1:])
    return sep.join(ws)


def q(name):
    return '"' + name.replace('"', '""') + '"'


def variant(src, dst, seed):
    """Writes the renamed copy of src to dst; returns {old name: new name} over
    tables and columns (lower-case old names). One name is renamed the same
    way wherever it appears (customer_id in every table), as schemas do."""
    db_id = os.path.basename(src).split('.')[0]
    rng = random.Random(seed + int(hashlib.sha256(db_id.encode()).hexdigest()[:12], 16))
    style = rng.choice(['own', 'own', 'snake', 'camel'])
    shutil.copyfile(src, dst)
    con = sqlite3.connect(dst)
    con.execute('PRAGMA legacy_alter_table=OFF')
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                       "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    cols = {t: [r[1] for r in con.execute('SELECT * FROM pragma_table_info(?)', (t,))] for t in tables}
    every = {n.lower() for n in tables} | {c.lower() for t in tables for c in cols[t]}
    memo = {}

    def pick(name, is_table):
        key = name.lower()
        if key not in memo:
            ws = ms.split_ident(name)
            n = styled(new_words(ws, rng, is_table), style, name) if ws else name
            # never a keyword, never a name the database already has
            ok = n.lower() == key or (re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', n) and
                                      n.upper() not in ms.SQLITE_KEYWORDS and n.lower() not in every)
            memo[key] = n if ok else name
            every.add(memo[key].lower())
        return memo[key]

    renames = {}
    for t in tables:
        for c in cols[t]:
            n = pick(c, False)
            if n == c:
                continue
            try:
                con.execute('ALTER TABLE %s RENAME COLUMN %s TO %s' % (q(t), q(c), q(n)))
                renames[c.lower()] = n
            except sqlite3.Error:
                pass
    for t in tables:
        n = pick(t, True)
        if n == t:
            continue
        try:
            con.execute('ALTER TABLE %s RENAME TO %s' % (q(t), q(n)))
            renames[t.lower()] = n
        except sqlite3.Error:
            pass
    con.commit()
    con.execute('VACUUM')
    con.close()
    return renames


IDENT = re.compile(r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")*)\"|`([^`]*)`|\[([^\]]*)\]|([A-Za-z_][A-Za-z0-9_]*)")


def rename_sql(sql, renames):
    """sql with every identifier in renames (case-insensitive) replaced, string
    literals left alone. A name that is both a table and a column was renamed
    the same way for both (variant()), so no parsing is needed."""
    def sub(m):
        if m.group(0).startswith("'"):
            return m.group(0)
        name = next(g for g in m.groups() if g is not None)
        new = renames.get(name.lower())
        if new is None:
            return m.group(0)
        return q(new) if m.group(0)[0] in '"`[' else new
    return IDENT.sub(sub, sql)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=8)
    ap.add_argument('dbs', nargs='+')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    all_renames = {}
    for src in sorted(args.dbs):
        db_id = os.path.basename(src).split('.')[0]
        dst = os.path.join(args.out, '%s.v%d.sqlite' % (db_id, args.seed))
        try:
            all_renames[db_id] = variant(src, dst, args.seed)
        except (sqlite3.Error, OSError) as e:
            print('%s: skipped (%s)' % (src, e), file=sys.stderr)
            if os.path.exists(dst):
                os.remove(dst)
    with open(os.path.join(args.out, 'renames.json'), 'w') as f:
        json.dump(all_renames, f, indent=1, sort_keys=True)
    print('%d databases, %d names renamed -> %s' % (len(all_renames), sum(map(len, all_renames.values())),
                                                    args.out), file=sys.stderr)
    if not all_renames:
        sys.exit('make_variants.py: no database could be copied and renamed')


if __name__ == '__main__':
    main()
