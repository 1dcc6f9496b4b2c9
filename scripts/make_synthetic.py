#!/usr/bin/python3
# make_synthetic.py — synthetic question/SQL pairs generated from real SQLite
# databases, as extra training data for a small text-to-SQL model trained from
# scratch (sqlassist train --mode full). Standard library + sqlite3 only.
"""make_synthetic.py — templated question/SQL pairs from real SQLite databases.

    /usr/bin/python3 scripts/make_synthetic.py --out FILE.jsonl [--per-db N] [--seed 1] \
        [--time-per-db S] [--query-timeout S] [--shapes NAME:W,...] DB.sqlite [DB.sqlite ...]

--shapes picks the shapes and their weights (default: SHAPES below; list_all,
a plain list of every row, is only made when named, for stage 5 of
models/make-bundled.sh).

Each database is opened read-only and introspected (sqlite_master,
pragma_table_info, pragma_foreign_key_list, the first 200 rows of each table).
Questions are filled in from templates (counts, filters, DISTINCT, ORDER BY /
LIMIT, aggregates, GROUP BY / HAVING, joins along foreign keys, NOT IN / EXCEPT,
dates, LIKE, BETWEEN, AND / OR) with values taken from the sampled rows. Every
query is run (with a timeout) and kept only if it returns a row (a count > 0,
a non-NULL aggregate). One JSON object per line:

    {"db_path", "db_id", "question", "query", "shape"}

db_id is the file name up to its first dot. Counts per shape and per database
go to stderr. The same inputs and seed give the same output (inputs are sorted;
each database gets random.Random(seed + sha256(path))).

The sources in shared/data, Spider train databases only (this script knows
nothing about Spider's splits: the caller leaves out every db_id of dev.json):

    D=../shared/data
    DEV=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(sorted({e["db_id"] for e in json.load(open(sys.argv[1]))})))' $D/spider/dev.json)
    DBS=$(for f in $D/spider/database/*/*.sqlite; do
            id=$(basename "$(dirname "$f")"); case " $DEV " in *" $id "*) ;; *) echo "$f";; esac; done)
    /usr/bin/python3 scripts/make_synthetic.py --out synthetic.jsonl $DBS \
        $D/text2sql-data/*.sqlite $D/sample-db/Chinook_Sqlite.sqlite $D/sample-db/northwind/northwind.sqlite

SQL style: keywords upper case, functions lower case as in Spider (count(*),
avg(x), strftime), identifiers as in the schema, double-quoted when they are
not plain words or are SQLite keywords, aliases T1/T2 in joins.
"""
import argparse
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import sys
import time
import urllib.request
from collections import Counter, namedtuple

SAMPLE_ROWS = 200
MAX_TEXT = 40

SQLITE_KEYWORDS = frozenset('''
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT
BEFORE BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT
CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH
ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST
FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE
IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS
ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING
NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN
PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX
RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT
SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED
UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH
WITHOUT'''.split())

# Abbreviations in identifiers, spelled out in questions.
ABBREV = {
    'dept': 'department', 'num': 'number', 'qty': 'quantity', 'amt': 'amount',
    'desc': 'description', 'descr': 'description', 'addr': 'address',
    'yr': 'year', 'avg': 'average', 'mgr': 'manager', 'emp': 'employee',
    'cust': 'customer', 'prod': 'product', 'dob': 'date of birth',
    'apt': 'apartment', 'fname': 'first name', 'lname': 'last name',
    'pct': 'percent', 'tot': 'total', 'cred': 'credits', 'no': 'number',
    'nbr': 'number', 'pop': 'population', 'cnt': 'count', 'loc': 'location',
    'msg': 'message', 'acc': 'account', 'acct': 'account', 'pos': 'position',
}
IRREGULAR_PLURAL = {
    'person': 'people', 'child': 'children', 'man': 'men', 'woman': 'women',
    'foot': 'feet', 'mouse': 'mice', 'goose': 'geese', 'criterion': 'criteria',
    'datum': 'data', 'medium': 'media', 'analysis': 'analyses',
}
IRREGULAR_SINGULAR = {v: k for k, v in IRREGULAR_PLURAL.items()}
UNCOUNTABLE = frozenset('''staff series species information info equipment data
news aircraft furniture software hardware music media sheep fish weather
deer feedback evidence personnel'''.split())
PREPOSITIONS = frozenset('of to in for by on at from with per'.split())
PLACE_WORDS = frozenset('city country state nationality hometown location region county town'.split())
# Words of columns whose SUM means something (others get avg/min/max only).
SUM_WORDS = frozenset('''price prices cost costs amount amounts total quantity count budget sales
revenue salary bytes milliseconds duration freight population area length points goals wins
losses fee fees payment payments balance weight units stock spent income profit tax hours
minutes seconds days credits attendance votes money earnings gross distance miles sold copies
enrollment value tonnage capacity'''.split())
NOT_MEASURE = frozenset('zip postal phone fax code lat long latitude longitude'.split())

# Superlatives for a column word: (adjective for DESC, adjective for ASC).
SUPERLATIVES = {
    'price': ('most expensive', 'cheapest'), 'cost': ('most expensive', 'cheapest'),
    'age': ('oldest', 'youngest'), 'height': ('tallest', 'shortest'),
    'weight': ('heaviest', 'lightest'), 'length': ('longest', 'shortest'),
    'duration': ('longest', 'shortest'), 'milliseconds': ('longest', 'shortest'),
    'population': ('most populous', 'least populous'), 'area': ('largest', 'smallest'),
    'size': ('largest', 'smallest'), 'capacity': ('largest', 'smallest'),
    'speed': ('fastest', 'slowest'), 'salary': ('best paid', 'worst paid'),
    'rating': ('highest rated', 'lowest rated'),
}
OP_WORDS = {
    '>': ['greater than', 'more than', 'above', 'over', 'higher than', 'larger than'],
    '<': ['less than', 'below', 'under', 'lower than', 'smaller than'],
    '>=': ['at least', 'greater than or equal to', 'no less than'],
    '<=': ['at most', 'less than or equal to', 'no more than'],
}
# --natural: the words people use where the templates above spell out a
# column. Past participles of the verbs that name a date or year column
# (published_year: "books published before 1950"), the ones a row does itself
# (members join) apart from those done to it (books are published), and the
# verbs of event tables (a loan: a book is borrowed, a member borrows).
PARTICIPLES = {
    'birth': 'born', 'born': 'born', 'release': 'released', 'hire': 'hired', 'build': 'built',
    'built': 'built', 'start': 'started', 'end': 'ended', 'open': 'opened', 'join': 'joined',
    'publish': 'published', 'publication': 'published', 'found': 'founded', 'foundation': 'founded',
    'create': 'created', 'creation': 'created', 'register': 'registered', 'registration': 'registered',
    'establish': 'established', 'launch': 'launched', 'issue': 'issued', 'sign': 'signed',
    'return': 'returned', 'order': 'ordered', 'ship': 'shipped', 'shipping': 'shipped', 'pay': 'paid',
    'payment': 'paid', 'make': 'made', 'produce': 'produced', 'production': 'produced',
    'record': 'recorded', 'complete': 'completed', 'completion': 'completed', 'enroll': 'enrolled',
    'enrollment': 'enrolled', 'close': 'closed', 'death': 'died', 'die': 'died', 'arrival': 'arrived',
    'arrive': 'arrived', 'departure': 'departed', 'depart': 'departed', 'retire': 'retired',
    'retirement': 'retired', 'delivery': 'delivered', 'deliver': 'delivered', 'graduation': 'graduated',
    'graduate': 'graduated', 'purchase': 'purchased', 'sale': 'sold', 'sell': 'sold',
    'update': 'updated', 'marriage': 'married', 'checkout': 'checked out', 'check': 'checked',
    'invoice': 'invoiced', 'visit': 'visited', 'booking': 'booked', 'book': 'booked',
}
ACTIVE_PARTICIPLES = frozenset('joined enrolled arrived departed retired died graduated started ended'.split())
# an event table's noun: (what happened to the thing, what the person did)
EVENT_VERBS = {
    'loan': ('borrowed', 'borrowed'), 'borrowing': ('borrowed', 'borrowed'), 'order': ('ordered', 'ordered'),
    'rental': ('rented', 'rented'), 'booking': ('booked', 'booked'), 'reservation': ('reserved', 'reserved'),
    'purchase': ('bought', 'bought'), 'sale': ('sold', 'bought'), 'review': ('reviewed', 'reviewed'),
    'rating': ('rated', 'rated'), 'visit': ('visited', 'visited'), 'enrollment': ('taken', 'enrolled in'),
    'registration': ('registered', 'registered for'), 'transaction': ('used', 'made'),
    'checkout': ('checked out', 'checked out'), 'appointment': ('booked', 'booked'),
    'delivery': ('delivered', 'received'), 'shipment': ('shipped', 'received'), 'invoice': ('invoiced', 'paid'),
    'payment': ('paid', 'paid'), 'play': ('played', 'played'), 'view': ('viewed', 'viewed'),
    'subscription': ('subscribed to', 'subscribed to'), 'vote': ('voted for', 'voted'),
}
PERSON_WORDS = frozenset('''member customer client student employee user person people author patron
guest passenger player driver staff teacher professor doctor patient writer artist singer actor director
manager owner reader buyer seller visitor worker instructor pilot captain coach host participant
candidate applicant tenant resident volunteer donor subscriber'''.split())
# Amounts summed (fees, sales, hours) are not counted things; these plurals are.
NOT_COUNT_NOUNS = SUM_WORDS - {'points', 'goals', 'wins', 'votes', 'copies', 'units'}
NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten']
GENERIC_PLACES = ['database', 'database', 'system', 'records', 'data']
AGG_WORDS = {
    'avg': ['average', 'mean', 'average'], 'sum': ['total'],
    'min': ['minimum', 'lowest', 'smallest'], 'max': ['maximum', 'highest', 'largest'],
}
DATE_RE = re.compile(r'^(\d{4})-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?$')
WORD_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')

Cond = namedtuple('Cond', 'sql mods pred col')
Cand = namedtuple('Cand', 'question query check')


# ---------------------------------------------------------------- naming

def split_ident(ident):
    """Lower-case words of a snake_case / CamelCase / spaced identifier."""
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1 \2', ident)
    s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1 \2', s)
    return [p.lower() for p in re.split(r'[\W_]+', s) if p]


def words(ident):
    """Identifier words with common abbreviations spelled out."""
    out = []
    for w in split_ident(ident):
        out.extend(ABBREV.get(w, w).split())
    if len(out) > 1 and len(out[-1]) == 1 and out[-1].isalpha():
        out.pop()        # max_temperature_f -> max temperature
    if len(out) >= 2 and len(out[0]) == 1 and out[0].isalpha():
        first = {('l', 'name'): 'last', ('f', 'name'): 'first', ('e', 'mail'): 'email'}.get(tuple(out[:2]))
        if first == 'email':
            out[:2] = ['email']
        elif first:
            out[0] = first           # LName -> last name
        elif out[1] != 'id':
            out.pop(0)               # pName -> name, pPos -> position (but u_id stays "u id")
    return out


def looks_plural(w):
    """Whether an English noun looks plural."""
    if w in IRREGULAR_SINGULAR or w in UNCOUNTABLE:
        return True
    return (len(w) > 2 and w.endswith('s')
            and not w.endswith(('ss', 'us', 'is', 'ics', 'ous', 'sis')))


def singular(w):
    """Singular of a plural noun (heuristic)."""
    if w in IRREGULAR_SINGULAR:
        return IRREGULAR_SINGULAR[w]
    if w in UNCOUNTABLE or not looks_plural(w):
        return w
    if w.endswith('ies') and len(w) > 4 and w not in ('movies', 'cookies', 'species'):
        return w[:-3] + 'y'
    if w.endswith(('sses', 'xes', 'ches', 'shes', 'zes', 'uses')):
        return w[:-2]
    return w[:-1]


def plural(w):
    """Plural of a singular noun (heuristic)."""
    if w in IRREGULAR_PLURAL:
        return IRREGULAR_PLURAL[w]
    if w in UNCOUNTABLE or not w[-1:].isalpha() or len(w) > 3 and w.endswith('ed') and not w.endswith('eed'):
        return w
    if w in ('first', 'last', 'next', 'previous') or len(w) <= 3 and not set(w) & set('aeiouy'):
        return w          # first elected, hs
    if w.endswith('y') and len(w) > 1 and w[-2] not in 'aeiou':
        return w[:-1] + 'ies'
    if w.endswith(('s', 'x', 'z', 'ch', 'sh')):
        return w + 'es'
    return w + 's'


def head_index(ws):
    """Index of the head noun of a phrase: the word before the first preposition,
    else the last word that is not a participle (date stored -> date)."""
    for i, w in enumerate(ws):
        if i > 0 and w in PREPOSITIONS:
            return i - 1
    i = len(ws) - 1
    while i > 0 and ws[i].endswith('ed') and len(ws[i]) > 3:
        i -= 1
    return i


def phrase_plural(ws):
    """Plural form of a noun phrase given as words."""
    if not ws:
        return ''
    ws = list(ws)
    if any(looks_plural(w) and w not in UNCOUNTABLE for w in ws):
        return ' '.join(ws)      # bikes available, units on order
    i = head_index(ws)
    ws[i] = plural(ws[i])
    return ' '.join(ws)


def phrase_singular(ws):
    """Singular form of a noun phrase given as words."""
    if not ws:
        return ''
    ws = list(ws)
    i = head_index(ws)
    ws[i] = singular(ws[i])
    return ' '.join(ws)


def table_words(name):
    """Words naming a table, without prefixes like ref_ / tbl_."""
    ws = words(name)
    if len(ws) > 1 and ws[0] in ('ref', 'tbl', 'tb', 'lu', 'dim', 'fact', 'all'):
        ws = ws[1:]
    return ws


def a_(p):
    """'a price' but 'scores' (no article before a plural)."""
    return p if looks_plural(p.split()[-1]) else 'a ' + p


AN_RE = re.compile(r"(?<![\w'\"])([Aa]) (?=[aeio]|u(?!ni|s[eu]|r[aeiou]|til|biq))")


def polish(s):
    """First letter upper case, 'a' before a vowel made 'an'."""
    s = AN_RE.sub(lambda m: m.group(1) + 'n ', s)
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------- SQL text

def qi(name):
    """An identifier as SQL: bare when a plain word, else double-quoted."""
    if WORD_RE.match(name) and name.upper() not in SQLITE_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def num_text(v):
    """A number as written in SQL and in questions."""
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def lit(v):
    """A value as an SQL literal: text quoted with '' escaping, numbers bare."""
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return num_text(v)


def usable_text(v):
    """Whether a text value is short and clean enough to put in a question."""
    return (isinstance(v, str) and 0 < len(v) <= MAX_TEXT and v.strip() == v
            and v.isprintable() and not v.isspace())


# ---------------------------------------------------------------- schema

class Column:
    """A column: name, words, kind (num/text/date/blob/other), sampled values."""

    def __init__(self, name, pk):
        self.name, self.pk = name, pk
        self.words = words(name)
        self.kind = 'other'
        self.values = []      # distinct usable non-NULL values, in row order
        self.n_nonnull = 0
        self.n_usable = 0     # sampled rows whose value could go in a question
        self.fk = False
        self.is_id = False

    def profile(self, vals, types):
        """Set kind and values from the sampled values and their typeof()."""
        tc = Counter(t for t in types if t != 'null')
        self.n_nonnull = sum(tc.values())
        if not tc:
            return
        if set(tc) <= {'integer', 'real'}:
            self.kind = 'num'
            self.values = distinct(v for v in vals if isinstance(v, (int, float)))
        elif set(tc) == {'text'}:
            texts = [v for v in vals if isinstance(v, str)]
            dates = sum(1 for v in texts if DATE_RE.match(v))
            self.kind = 'date' if texts and dates >= 0.9 * len(texts) else 'text'
            usable = [v for v in texts if usable_text(v)]
            self.n_usable = len(usable)
            self.values = distinct(usable)
        elif 'blob' in tc:
            self.kind = 'blob'

    def finish(self):
        """Derive is_id once kind and fk are known."""
        last = self.words[-1] if self.words else ''
        self.is_id = (last in ('id', 'ids') or (self.pk and self.kind == 'num')
                      or (self.fk and self.kind == 'num'))

    @property
    def flag(self):
        """A yes/no column (0/1, T/F, Y/N, is_..., has_...)."""
        if self.words and self.words[0] in ('is', 'has', 'if') and len(self.values) <= 2:
            return True
        vals = {v.lower() if isinstance(v, str) else v for v in self.values}
        return len(vals) <= 2 and vals <= {0, 1, 't', 'f', 'y', 'n', 'yes', 'no', 'true', 'false', '0', '1'}

    @property
    def measure(self):
        """A numeric column one can compare, order and aggregate."""
        return (self.kind == 'num' and not self.is_id and not self.flag
                and len(self.values) >= 3
                and not (set(self.words) & NOT_MEASURE))

    @property
    def text_ok(self):
        """A text column with enough usable values for filters."""
        return (self.kind == 'text' and len(self.values) >= 1 and not self.flag
                and 2 * self.n_usable >= self.n_nonnull)

    @property
    def category(self):
        """A column with repeated values, good for GROUP BY."""
        n = len(self.values)
        if self.pk or self.kind not in ('text', 'num') or self.flag:
            return False
        if self.kind == 'num' and (self.measure and n > 8 or any(isinstance(v, float) for v in self.values)):
            return False
        if self.is_id and self.words[-1] not in ('id', 'ids', 'code'):
            return False     # ReportsTo
        if self.measure and not set(self.words) & {'count', 'number', 'year', 'rating', 'grade', 'level'}:
            return False
        if self.kind == 'text' and not self.text_ok:
            return False
        return 2 <= n <= 40 and n < 0.8 * self.n_nonnull


def distinct(it):
    """Distinct values of an iterable, first occurrence order."""
    seen, out = set(), []
    for v in it:
        key = (type(v) is str, v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


class Table:
    """A table: columns, foreign keys, sample size, nouns and label column."""

    def __init__(self, name, cols):
        self.name = name
        self.cols = cols
        ws = table_words(name)
        self.sing = phrase_singular(ws)
        self.plur = phrase_plural(ws)
        self.noun = self.sing.split()[-1] if self.sing else ''    # 'loan' for book_loans
        self.n_rows = 0
        self.label = None

    def col(self, name):
        """The column called name (case-insensitive), or None."""
        for c in self.cols:
            if c.name.lower() == name.lower():
                return c
        return None

    def pick_label(self):
        """Choose the column that best names a row of this table (mostly distinct text)."""
        person = any({'first', 'last'} & set(c.words) and c.words[-1] == 'name' for c in self.cols)
        best, score = None, 0
        for i, c in enumerate(self.cols):
            if not c.text_ok or c.is_id:
                continue
            w = c.words
            if w != ['name'] and len(c.values) * 2 < min(c.n_nonnull, 40):
                continue     # mostly repeated values: a category, not a label
            s = 1 + (1.0 / (i + 2))
            if w == ['name']:
                s += 10
            elif w[-1] == 'name' and w[:-1] == self.sing.split()[-len(w) + 1:]:
                s += 9       # ProductName in Products
            elif w[-1] == 'title':
                s += 2 if person else 8
            elif w[-1] == 'name' and not set(w) & {'first', 'last', 'user', 'login', 'middle'}:
                s += 7
            elif w[-1] == 'name':
                s += 6
            if s > score:
                best, score = c, s
        self.label = best

    @property
    def label_is_name(self):
        """Whether 'which <table>' can stand for the label column (name, title, <table> name)."""
        c = self.label
        if c is not None and c.words == self.sing.split():
            return True       # Institution.Institution
        if c is None or c.words[-1] not in ('name', 'title'):
            return False
        return len(c.words) == 1 or c.words[:-1] == self.sing.split()[-len(c.words) + 1:]


FK = namedtuple('FK', 'child ccol parent pcol')


class Timeout:
    """A progress handler that interrupts a statement after its deadline."""

    def __init__(self, conn):
        self.deadline = 0.0
        conn.set_progress_handler(self, 2000)

    def __call__(self):
        return 1 if time.monotonic() > self.deadline else 0


def text_factory(b):
    """Decode TEXT as UTF-8; undecodable text stays bytes (and is never used)."""
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return bytes(b)


def open_ro(path):
    """A read-only connection to a database file."""
    uri = 'file:' + urllib.request.pathname2url(os.path.abspath(path)) + '?mode=ro'
    conn = sqlite3.connect(uri, uri=True, timeout=1.0, check_same_thread=False)
    conn.text_factory = text_factory
    return conn


def load_table(conn, timer, name, limit_s, note):
    """Introspect one table and sample its first rows; None when unusable."""
    cols = []
    for r in conn.execute('SELECT name, pk FROM pragma_table_info(?)', (name,)):
        cols.append(Column(r[0], bool(r[1])))
    if not cols or not split_ident(name):
        return None
    sel = ', '.join(
        f"typeof({qi(c.name)}), CASE WHEN typeof({qi(c.name)}) IN ('text', 'blob') "
        f"AND length(CAST({qi(c.name)} AS BLOB)) > 256 THEN NULL ELSE {qi(c.name)} END"
        for c in cols)
    timer.deadline = time.monotonic() + limit_s
    rows = conn.execute(f'SELECT {sel} FROM {qi(name)} LIMIT {SAMPLE_ROWS}').fetchall()
    if not rows:
        note(f'table {name!r}: empty, skipped')
        return None
    for i, c in enumerate(cols):
        c.profile([r[2 * i + 1] for r in rows], [r[2 * i] for r in rows])
    cols = [c for c in cols if c.words]
    t = Table(name, cols)
    t.n_rows = len(rows)
    return t


def load_fks(conn, tables, note):
    """Single-column foreign keys between loaded tables (not self-references)."""
    by_name = {t.name.lower(): t for t in tables}
    fks = []
    for t in tables:
        rows = conn.execute('SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?)',
                            (t.name,)).fetchall()
        n_by_id = Counter(r[0] for r in rows)
        for fid, ptab, frm, to in rows:
            p = by_name.get((ptab or '').lower())
            cc = t.col(frm or '')
            if cc is not None:
                cc.fk = True
            if n_by_id[fid] != 1 or p is None or p is t:
                continue
            if to is None:
                pks = [c for c in p.cols if c.pk]
                pc = pks[0] if len(pks) == 1 else None
            else:
                pc = p.col(to)
            if cc is None or pc is None:
                note(f'foreign key {t.name}.{frm} -> {ptab}.{to}: no such column, skipped')
                continue
            fks.append(FK(t, cc, p, pc))
    return fks


def load_schema(conn, timer, deadline, note):
    """Tables (with samples) and foreign keys of a database."""
    master = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    virtual = [n + '_' for n, sql in master if (sql or '').lstrip().upper().startswith('CREATE VIRTUAL')]
    names = [n for n, sql in master if not n.startswith('sqlite_')
             and not (sql or '').lstrip().upper().startswith('CREATE VIRTUAL')
             and not any(n.startswith(v) for v in virtual)]    # FTS/R-tree shadow tables
    tables = []
    for name in names:
        if time.monotonic() > deadline:
            note('time is up while reading the schema')
            break
        try:
            t = load_table(conn, timer, name, 2.0, note)
        except (sqlite3.Error, ValueError, OverflowError) as e:
            note(f'table {name!r}: {e}, skipped')
            continue
        if t is not None:
            tables.append(t)
    try:
        fks = load_fks(conn, tables, note)
    except sqlite3.Error as e:
        note(f'foreign keys: {e}, skipped')
        fks = []
    for t in tables:
        for c in t.cols:
            c.finish()
        t.pick_label()
    return tables, fks


# ---------------------------------------------------------------- generator

class Gen:
    """Question/SQL generators for one database."""

    def __init__(self, conn, timer, tables, fks, rng, qtimeout):
        self.conn, self.timer = conn, timer
        self.tables, self.fks, self.rng = tables, fks, rng
        self.qtimeout = qtimeout
        self.cache = {}
        self.qstyle = 0.0     # how text values are quoted in the current question
        self.natural = False  # --natural: also the phrasings of NATURAL below
        self.domain = []      # the database's own noun ('library' for library.sqlite), if any

    # ---- small helpers

    def choice(self, seq):
        """A random element of seq, or None when it is empty."""
        return self.rng.choice(seq) if seq else None

    def pick(self, *opts):
        """One of the arguments at random."""
        return self.rng.choice(opts)

    # ---- --natural: everyday wording (never drawn without --natural, so the
    # same seed gives earlier stages the same rows)

    def nat(self, p):
        """With --natural, true with probability p; without it, false (and no draw)."""
        return self.natural and self.rng.random() < p

    def place(self):
        """What a question calls the whole database: 'the library', 'the database'."""
        if self.domain and self.rng.random() < 0.5:
            return ' '.join(self.domain)
        return self.choice(GENERIC_PLACES)

    def participle(self, c):
        """(participle, passive) for a date or year column named by a verb
        (published_year: ('published', True); joined_date: ('joined', False)), or None."""
        if not (c.kind == 'date' or {'year', 'date'} & set(c.words)):
            return None
        for w in c.words:
            if w in ('year', 'date', 'day', 'time', 'on', 'at', 'of', 'the'):
                continue
            part = PARTICIPLES.get(w) or (w if w.endswith('ed') and len(w) > 4 else None)
            if part:
                return part, part not in ACTIVE_PARTICIPLES
        return None

    def count_noun(self, c):
        """'pages' for pages or num_pages: a measure counting things, named by their plural."""
        ws = [w for w in c.words if w not in ('number', 'num', 'no', 'count', 'total', 'of')]
        if c.measure and len(ws) == 1 and looks_plural(ws[0]) and ws[0] not in NOT_COUNT_NOUNS:
            return ws[0]
        return None

    def is_person(self, t):
        """Whether the rows of t are people (members, customers, authors)."""
        return t.noun in PERSON_WORDS

    def event_verbs(self, t):
        """(done to the thing, done by the person) for an event table (loans: borrowed), or None."""
        return EVENT_VERBS.get(t.noun)

    def fill(self, q):
        """A question with everyday words around it that change nothing in its answer."""
        r = self.rng.random()
        if r < 0.4 and q[-1] in '?.':
            return q[:-1] + self.pick(f' in the {self.place()}', f' in our {self.place()}',
                                      f' in the {self.place()}', ' please') + q[-1]
        if r < 0.7 and q.split()[0] in ('Show', 'List', 'Find', 'Give', 'Count', 'Return', 'Name'):
            lead = self.pick('Please ', 'Can you ', 'Could you ', 'I want to ')
            q = lead + q[0].lower() + q[1:]
            return q[:-1] + '?' if lead in ('Can you ', 'Could you ') else q
        if q.startswith('What ') and q.endswith('?'):
            return self.pick('Tell me ', 'I would like to know ') + q[0].lower() + q[1:-1] + '.'
        return q

    def run(self, sql, n=1):
        """The first n rows of a query, or None on error or timeout."""
        self.timer.deadline = time.monotonic() + self.qtimeout
        try:
            cur = self.conn.execute(sql)
            return cur.fetchmany(n)
        except (sqlite3.Error, OverflowError, ValueError):
            return None

    def cp(self, col, table, plural_=False):
        """Words for a column in a question, often without the table's name."""
        ws = list(col.words)
        tw = table_words(table.name)
        tws = phrase_singular(tw).split()
        if ws == tws and col is table.label and self.rng.random() < 0.7:
            return 'names' if plural_ else 'name'     # Institution.Institution
        for prefix in (tws, tw, tws[-1:]):
            n = len(prefix)
            if len(ws) > n and ws[:n] == prefix and self.rng.random() < 0.85:
                ws = ws[n:]
                break
        return phrase_plural(ws) if plural_ else ' '.join(ws)

    def qv(self, v, r=None):
        """A value as written in a question: numbers bare, text mostly bare."""
        if not isinstance(v, str):
            return num_text(v)
        r = self.qstyle if r is None else r
        if r < 0.6 and not re.search(r'\b(and|or|with|whose|of)\b', v):
            return v
        return '"' + v + '"' if r < 0.85 else "'" + v + "'"

    def tables_with(self, pred):
        """Tables for which pred(table) holds."""
        return [t for t in self.tables if pred(t)]

    def cols(self, t, pred):
        """Columns of t for which pred(col) holds."""
        return [c for c in t.cols if pred(c)]

    # ---- conditions

    def cond_text(self, t, c, v, ref):
        """Equality on a text column, with ways to say it."""
        p, val = self.cp(c, t), self.qv(v)
        sql = f'{ref} = {lit(v)}'
        if len(c.words) == 1 and c.words[0] in PLACE_WORDS:
            return Cond(sql, [f'from {val}', f'in {val}', f'whose {p} is {val}'],
                        [f'are from {val}', f'are located in {val}', f'come from {val}'], c)
        if c.words[-1] == 'title' and len(c.words) <= 2:
            return Cond(sql, [f'titled {val}', f'with the {p} {val}', f'whose {p} is {val}'],
                        [f'are titled {val}', f'have the {p} {val}'], c)
        if c.words[-1] == 'name' and len(c.words) <= 2 and p == 'name':
            return Cond(sql, [f'named {val}', f'called {val}', f'whose name is {val}'],
                        [f'are named {val}', f'are called {val}'], c)
        return Cond(sql, [f'with {p} {val}', f'whose {p} is {val}', f'with the {p} {val}',
                          f'whose {p} is {val}'],
                    [f'have {p} {val}', f'have the {p} {val}', f'have {a_(p)} of {val}'], c)

    def cond_num(self, t, c, op, v, ref):
        """A comparison on a numeric column, with ways to say it."""
        p, val = self.cp(c, t), num_text(v)
        sql = f'{ref} {op} {val}'
        if self.nat(0.6):
            pp, noun = self.participle(c), self.count_noun(c)
            if pp and 'year' in c.words:
                part, passive = pp
                w = {'>': 'after', '<': 'before', '>=': 'in or after', '<=': 'in or before'}[op]
                if passive:
                    return Cond(sql, [f'{part} {w} {val}', f'that were {part} {w} {val}'], [f'were {part} {w} {val}'], c)
                return Cond(sql, [f'who {part} {w} {val}', f'that {part} {w} {val}'], [f'{part} {w} {val}'], c)
            if noun:
                w = self.choice({'>': ['more than', 'over'], '<': ['fewer than', 'less than', 'under'],
                                 '>=': ['at least'], '<=': ['at most', 'no more than']}[op])
                return Cond(sql, [f'with {w} {val} {noun}', f'that have {w} {val} {noun}', f'having {w} {val} {noun}'],
                            [f'have {w} {val} {noun}'], c)
        if c.words == ['age'] and op in ('>', '<'):
            adj = 'older' if op == '>' else 'younger'
            return Cond(sql, [f'{adj} than {val}', f'whose age is {self.choice(OP_WORDS[op])} {val}'],
                        [f'are {adj} than {val}'], c)
        if c.words[-1] == 'year' and self.rng.random() < 0.6:
            w = {'>': 'after', '<': 'before', '>=': 'in or after', '<=': 'in or before'}[op]
            return Cond(sql, [f'with {p} {w} {val}', f'whose {p} is {w} {val}'], [f'have {p} {w} {val}'], c)
        w = self.choice(OP_WORDS[op])
        mods = [f'with {p} {w} {val}', f'whose {p} is {w} {val}', f'with {a_(p)} {w} {val}']
        if op in ('>=', '<='):
            mods.append(f'with {p} of {val} or {"more" if op == ">=" else "less"}')
        return Cond(sql, mods, [f'have {p} {w} {val}', f'have {a_(p)} {w} {val}'], c)

    def cond_any(self, t, alias=''):
        """A random condition on a column of t (text equality or numeric comparison)."""
        cands = self.cols(t, lambda c: c.text_ok or c.measure)
        c = self.choice(cands)
        if c is None:
            return None
        ref = alias + qi(c.name)
        if c.kind == 'text':
            return self.cond_text(t, c, self.choice(c.values), ref)
        return self.num_cond(t, c, ref)

    def num_cond(self, t, c, ref, ops=('>', '<', '>=', '<=', '>', '<')):
        """A numeric comparison with a threshold from the values."""
        vals = sorted(c.values)
        if len(vals) < 3:
            return None
        op = self.choice(ops)
        if op in ('>', '>='):
            v = self.choice(vals[:-1] if op == '>' else vals[1:])
        else:
            v = self.choice(vals[1:] if op == '<' else vals[:-1])
        return self.cond_num(t, c, op, v, ref)

    def mod(self, cond):
        """A post-noun modifier for a condition."""
        return self.choice(cond.mods)

    # ---- selections

    def display_cols(self, t, exclude=None, k=None):
        """One or two columns to show, the label first when there is one."""
        pool = [c for c in t.cols if c is not exclude and (c.text_ok or c.measure or c.kind == 'date')]
        if not pool:
            return []
        k = k or (1 if self.rng.random() < 0.75 else 2)
        first = t.label if t.label in pool and self.rng.random() < 0.7 else self.choice(pool)
        out = [first]
        rest = [c for c in pool if c is not first]
        if k > 1 and rest:
            out.append(self.choice(rest))
        return out

    def cols_phrase(self, t, cs):
        """Question words for the selected columns."""
        if len(cs) == 1:
            return self.cp(cs[0], t, plural_=True)
        return ' and '.join(self.cp(c, t) for c in cs)

    def sel(self, cs, alias=''):
        """SELECT list for columns."""
        return ', '.join(alias + qi(c.name) for c in cs)

    # ---- shapes: single table

    def s_count_all(self):
        """SELECT count(*) FROM t."""
        t = self.choice(self.tables)
        P = t.plur
        q = self.pick(f'How many {P} are there?', f'Count the {P}.', f'What is the number of {P}?',
                      f'How many {P} do we have?', f'What is the total number of {P}?',
                      f'Find the number of {P}.', f'Count the number of {P}.',
                      f'How many {P} are in the database?')
        if self.nat(0.5):
            D = self.place()
            q = self.pick(f'How many {P} does the {D} have?', f'How many {P} are in the {D}?',
                          f'How many {P} do we have in total?', f'How many {P} are there in total?',
                          f'What is the total number of {P} in the {D}?', f'How many {P} are listed?',
                          f'How many {P} does our {D} have?', f'Count all {P}.')
        return Cand(q, f'SELECT count(*) FROM {qi(t.name)}', 'count')

    def count_where(self, t, cond):
        """A COUNT(*) question with one condition."""
        P, m = t.plur, self.mod(cond)
        w = self.choice([x for x in cond.mods if not x.startswith('whose ')]) or m
        q = self.pick(f'How many {P} {self.choice(cond.pred)}?', f'How many {P} {w} are there?',
                      f'Count the {P} {m}.', f'What is the number of {P} {m}?',
                      f'Find the number of {P} {m}.', f'How many {P} {self.choice(cond.pred)}?',
                      f'Give me the number of {P} {m}.')
        return Cand(q, f'SELECT count(*) FROM {qi(t.name)} WHERE {cond.sql}', 'count')

    def s_count_where_text(self):
        """SELECT count(*) FROM t WHERE text = 'v'."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.text_ok and c.category)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.text_ok and c.category))
        return self.count_where(t, self.cond_text(t, c, self.choice(c.values), qi(c.name)))

    def s_count_where_num(self):
        """SELECT count(*) FROM t WHERE num > v."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.measure)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.measure))
        cond = self.num_cond(t, c, qi(c.name), ('>', '<', '>='))
        return cond and self.count_where(t, cond)

    def list_with(self, t, cond):
        """A 'show the X of T where ...' question for a condition."""
        cs = self.display_cols(t, exclude=cond.col)
        if not cs:
            return None
        P, m, X = t.plur, self.mod(cond), self.cols_phrase(t, cs)
        qs = [f'Show the {X} of {P} {m}.', f'List the {X} of all {P} {m}.',
              f'What are the {X} of the {P} {m}?', f'Give me the {X} of {P} {m}.',
              f'Find the {X} of {P} that {self.choice(cond.pred)}.',
              f'Return the {X} of the {P} {m}.']
        if len(cs) == 1 and cs[0] is t.label and t.label_is_name:
            qs += [f'Which {P} {self.choice(cond.pred)}?', f'List the {P} {m}.']
        where = cond.sql
        return Cand(self.choice(qs), f'SELECT {self.sel(cs)} FROM {qi(t.name)} WHERE {where}', 'any')

    def s_list_where(self):
        """SELECT col FROM t WHERE cond."""
        t = self.choice(self.tables_with(lambda t: len(t.cols) > 1))
        cond = t and self.cond_any(t)
        return cond and self.list_with(t, cond)

    def s_list_all(self):
        """SELECT col FROM t: a plain list, every row (not in the default SHAPES:
        stage 5's extra rows, --shapes)."""
        t = self.choice(self.tables_with(lambda t: len(t.cols) > 1))
        cs = t and self.display_cols(t)
        if not cs:
            return None
        P, X = t.plur, self.cols_phrase(t, cs)
        qs = [f'List the {X} of the {P}.', f'List the {X} of all {P}.', f'What are the {X} of all {P}?',
              f'Show the {X} of every {t.sing}.', f'Give me the {X} of all the {P}.',
              f'Show all {P} with their {X}.', f'What are the {X} of the {P}?',
              f'Return the {X} of each {t.sing}.']
        if len(cs) == 1 and cs[0] is t.label and t.label_is_name:
            qs += [f'List all {P}.', f'Show all the {P}.', f'What {P} are there?', f'Name every {t.sing}.']
        return Cand(self.choice(qs), f'SELECT {self.sel(cs)} FROM {qi(t.name)}', 'any')

    def s_distinct(self):
        """SELECT DISTINCT col FROM t."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.category)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.category))
        X, P = self.cp(c, t, True), t.plur
        qs = [f'What are the distinct {X} of {P}?', f'List all the different {X} of {P}.',
              f'Show the unique {X} of all {P}.', f'What different {X} do {P} have?',
              f'Find the distinct {X} of the {P}.', f'Show all distinct {X} of {P}.']
        if c.words in (['country'], ['city'], ['state'], ['nationality']):
            qs.append(f'Which {X} are the {P} from?')
        return Cand(self.choice(qs), f'SELECT DISTINCT {qi(c.name)} FROM {qi(t.name)}', 'any')

    def order_words(self, t, c, desc):
        """(superlative noun phrase or None, 'with the highest X' phrase) for an ordering."""
        p = self.cp(c, t)
        sup = None
        for w in c.words:
            if w in SUPERLATIVES:
                sup = SUPERLATIVES[w][0 if desc else 1]
        if c.kind == 'date' or 'year' in c.words or c.words[-1] in ('founded', 'established', 'opened'):
            if 'birth' in c.words:
                sup = 'youngest' if desc else 'oldest'
            hi = f'with the {"latest" if desc else "earliest"} {p}'
            pp = self.participle(c)
            if pp and c.n_nonnull == t.n_rows and self.nat(0.6):   # NULLs sort first: "returned first" would be wrong
                part, passive = pp
                was = 'was ' if passive else ''
                hi = self.pick(f'{part} most recently', f'that {was}{part} most recently', f'{part} last') if desc else \
                    self.pick(f'{part} first', f'that {was}{part} first', f'{part} earliest')
                if passive and part != 'born':
                    sup = sup or ('newest' if desc else 'oldest')
            return sup, hi
        hi = f'with the {self.choice(["highest", "largest", "greatest"] if desc else ["lowest", "smallest"])} {p}'
        noun = self.count_noun(c)
        if noun and self.nat(0.6):
            hi = f'with the {"most" if desc else "fewest"} {noun}'
        return sup, hi

    def ordered_table(self):
        """(table, order column, label columns) for ORDER BY shapes, or None."""
        ts = self.tables_with(lambda t: t.n_rows >= 3 and self.cols(t, lambda c: c.measure or c.kind == 'date'))
        t = self.choice(ts)
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.measure or c.kind == 'date'))
        cs = self.display_cols(t, exclude=c)
        return (t, c, cs) if cs else None

    def s_order_by(self):
        """SELECT label FROM t ORDER BY col [DESC]."""
        x = self.ordered_table()
        if x is None:
            return None
        t, c, cs = x
        desc = self.rng.random() < 0.5
        X, P, p = self.cols_phrase(t, cs), t.plur, self.cp(c, t)
        how = self.pick('descending', 'decreasing') if desc else self.pick('ascending', 'increasing')
        q = self.pick(f'List the {X} of all {P} in {how} order of {p}.',
                      f'Show the {X} of {P}, sorted by {p} in {how} order.',
                      f'What are the {X} of {P}, ordered by {p}{" from highest to lowest" if desc else ""}?',
                      f'Sort the {P} by {p}{" descending" if desc else ""} and list their {X}.')
        if not desc and self.rng.random() < 0.5:
            q = self.pick(f'List the {X} of {P} ordered by {p}.', f'Show the {X} of all {P} sorted by {p}.')
        sql = f'SELECT {self.sel(cs)} FROM {qi(t.name)} ORDER BY {qi(c.name)}{" DESC" if desc else ""}'
        return Cand(q, sql, 'strict')

    def s_topk(self):
        """SELECT label FROM t ORDER BY col DESC LIMIT k."""
        x = self.ordered_table()
        if x is None:
            return None
        t, c, cs = x
        k = self.rng.randint(2, min(5, t.n_rows - 1))
        desc = self.rng.random() < 0.65
        sup, hi = self.order_words(t, c, desc)
        kw = self.pick(str(k), ['two', 'three', 'four', 'five'][k - 2])
        X, P, p = self.cols_phrase(t, cs), t.plur, self.cp(c, t)
        qs = [f'Show the {X} of the {kw} {P} {hi}.', f'What are the {X} of the {kw} {P} {hi}?',
              f'List the {X} of the {"top" if desc else "bottom"} {kw} {P} by {p}.']
        if sup:
            qs += [f'What are the {X} of the {kw} {sup} {P}?', f'List the {X} of the {kw} {sup} {P}.']
            if cs[0] is t.label and t.label_is_name and len(cs) == 1:
                qs.append(f'Which are the {kw} {sup} {P}?')
        if cs[0] is t.label and t.label_is_name and len(cs) == 1:
            qs.append(f'Which {kw} {P} have the {"highest" if desc else "lowest"} {p}?')
        sql = (f'SELECT {self.sel(cs)} FROM {qi(t.name)} ORDER BY {qi(c.name)}'
               f'{" DESC" if desc else " ASC"} LIMIT {k}')
        return Cand(self.choice(qs), sql, 'strict')

    def s_top1(self):
        """SELECT label FROM t ORDER BY col DESC LIMIT 1."""
        x = self.ordered_table()
        if x is None:
            return None
        t, c, cs = x
        desc = self.rng.random() < 0.6
        sup, hi = self.order_words(t, c, desc)
        X, S, p = self.cols_phrase(t, cs[:1]), t.sing, self.cp(c, t)
        X = self.cp(cs[0], t) if len(cs) == 1 else ' and '.join(self.cp(x, t) for x in cs)
        qs = [f'What is the {X} of the {S} {hi}?', f'Find the {X} of the {S} {hi}.',
              f'Give me the {X} of the {S} {hi}.', f'Return the {X} of the {S} {hi}.']
        if sup:
            qs += [f'What is the {X} of the {sup} {S}?', f'Show the {X} of the {sup} {S}.']
            if cs[0] is t.label and t.label_is_name and len(cs) == 1:
                qs.append(f'Which {S} is the {sup}?')
        if cs[0] is t.label and t.label_is_name and len(cs) == 1:
            qs.append(f'Which {S} has the {"highest" if desc else "lowest"} {p}?')
        sql = (f'SELECT {self.sel(cs)} FROM {qi(t.name)} ORDER BY {qi(c.name)}'
               f'{" DESC" if desc else " ASC"} LIMIT 1')
        return Cand(self.choice(qs), sql, 'strict')

    def agg_pick(self, c):
        """An aggregate function suited to a column."""
        fns = ['avg', 'min', 'max']
        if set(c.words) & SUM_WORDS and 'average' not in c.words:
            fns += ['sum', 'sum']
        if {'year', 'date'} & set(c.words):
            fns = ['min', 'max']
        return self.choice(fns)

    def agg_word(self, fn, c):
        """'average', 'total', 'latest' ... for an aggregate of a column."""
        if fn == 'sum' and 'total' in c.words:
            return 'sum of the'
        if fn in ('min', 'max') and ({'year', 'date'} & set(c.words) or c.kind == 'date'):
            return self.choice(['latest', 'most recent', 'maximum'] if fn == 'max' else ['earliest', 'minimum'])
        return self.choice(AGG_WORDS[fn])

    def agg_question(self, t, c, fn, P, tail):
        """Question for one aggregate of a column over the rows of t."""
        fw, p = self.agg_word(fn, c), self.cp(c, t)
        qs = [f'What is the {fw} {p} of {P}{tail}?', f'What is the {fw} {p} of all {P}{tail}?',
              f'Find the {fw} {p} of the {P}{tail}.', f'Show the {fw} {p} of {P}{tail}.',
              f'What is the {fw} {p} among {P}{tail}?']
        if fn in ('min', 'max'):
            sup = None
            for w in c.words:
                if w in SUPERLATIVES:
                    sup = SUPERLATIVES[w][0 if fn == 'max' else 1]
            if sup and not tail:
                qs.append(f'What is the {p} of the {sup} {t.sing}?')
        if self.nat(0.6):
            pp, noun, S = self.participle(c), self.count_noun(c), t.sing
            if pp and pp[1] and fn in ('min', 'max') and not tail:
                part, first = pp[0], fn == 'min'
                if 'year' in c.words:
                    qs = [f'In which year was the {"oldest" if first else "newest"} {S} {part}?',
                          f'In what year was the {"first" if first else "most recent"} {S} {part}?']
                else:
                    qs = [f'When was the {"first" if first else "most recent"} {S} {part}?',
                          f'When was the {"earliest" if first else "latest"} {S} {part}?']
            elif noun:
                qs = [f'What is the {fw} number of {noun} of the {P}{tail}?', f'What is the {fw} number of {noun} of {P}{tail}?']
                if fn == 'avg':
                    qs.append(f'How many {noun} do {P}{tail} have on average?')
        return self.choice(qs)

    def s_agg(self):
        """SELECT avg/sum/min/max(col) FROM t."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.measure)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.measure))
        ref, P, p = qi(c.name), t.plur, self.cp(c, t)
        if self.rng.random() < 0.2:
            if self.rng.random() < 0.5:
                q = self.pick(f'What are the maximum and minimum {p} of {P}?',
                              f'Show the highest and lowest {p} of all {P}.')
                return Cand(q, f'SELECT max({ref}), min({ref}) FROM {qi(t.name)}', 'strict')
            q = self.pick(f'What are the average, minimum and maximum {p} of {P}?',
                          f'Show the average, minimum, and maximum {p} across all {P}.')
            return Cand(q, f'SELECT avg({ref}), min({ref}), max({ref}) FROM {qi(t.name)}', 'strict')
        fn = self.agg_pick(c)
        return Cand(self.agg_question(t, c, fn, P, ''), f'SELECT {fn}({ref}) FROM {qi(t.name)}', 'strict')

    def s_agg_where(self):
        """SELECT avg/sum/min/max(col) FROM t WHERE cond."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.measure) and len(t.cols) > 1))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.measure))
        cond = self.cond_any(t)
        if cond is None or cond.col is c:
            return None
        fn = self.agg_pick(c)
        q = self.agg_question(t, c, fn, t.plur, ' ' + self.mod(cond))
        return Cand(q, f'SELECT {fn}({qi(c.name)}) FROM {qi(t.name)} WHERE {cond.sql}', 'strict')

    def gp(self, g, t, plural_=False):
        """Words for a GROUP BY column: 'state' for state_name (when not the table's own name)."""
        p = self.cp(g, t, plural_)
        ws = p.split()
        if len(ws) > 1 and ws[-1] in ('name', 'names') and g is not t.label and self.rng.random() < 0.5:
            ws = ws[:-1]
            return phrase_plural(ws) if plural_ else ' '.join(ws)
        return p

    def group_col(self):
        """(table, category column) for GROUP BY shapes."""
        ok = lambda t: (lambda c: c.category and c is not t.label)
        t = self.choice(self.tables_with(lambda t: self.cols(t, ok(t))))
        if t is None:
            return None
        return t, self.choice(self.cols(t, ok(t)))

    def s_group_count(self):
        """SELECT g, count(*) FROM t GROUP BY g."""
        x = self.group_col()
        if x is None:
            return None
        t, g = x
        G, P = self.gp(g, t), t.plur
        q = self.pick(f'How many {P} are there for each {G}?', f'Show each {G} and the number of {P}.',
                      f'For each {G}, count the {P}.', f'Count the number of {P} for each {G}.',
                      f'How many {P} does each {G} have?', f'Show the number of {P} in each {G}.',
                      f'List each {G} together with the number of {P}.')
        if self.nat(0.4):
            q = self.pick(f'How many {P} are there in each {G}?', f'How many {P} are in each {G}?',
                          f'What is the number of {P} per {G}?', f'How many {P} per {G}?',
                          f'Give the number of {P} for every {G}.')
        return Cand(q, f'SELECT {qi(g.name)}, count(*) FROM {qi(t.name)} GROUP BY {qi(g.name)}', 'any')

    def s_group_agg(self):
        """SELECT g, avg(col) FROM t GROUP BY g."""
        x = self.group_col()
        if x is None:
            return None
        t, g = x
        c = self.choice(self.cols(t, lambda c: c.measure and c is not g))
        if c is None:
            return None
        fn = self.agg_pick(c)
        fw, p, G, P = self.agg_word(fn, c), self.cp(c, t), self.gp(g, t), t.plur
        q = self.pick(f'What is the {fw} {p} of {P} for each {G}?', f'For each {G}, what is the {fw} {p} of {P}?',
                      f'Show each {G} and the {fw} {p} of its {P}.', f'Show the {fw} {p} of {P} in each {G}.',
                      f'Find the {fw} {p} for each {G}.')
        sql = f'SELECT {qi(g.name)}, {fn}({qi(c.name)}) FROM {qi(t.name)} GROUP BY {qi(g.name)}'
        return Cand(q, sql, 'any')

    def s_group_top(self):
        """SELECT g FROM t GROUP BY g ORDER BY count(*) DESC LIMIT 1."""
        x = self.group_col()
        if x is None:
            return None
        t, g = x
        G, P = self.gp(g, t), t.plur
        if self.rng.random() < 0.75:
            q = self.pick(f'Which {G} has the most {P}?', f'What is the most common {G} among {P}?',
                          f'Which {G} is the most common for {P}?', f'Find the {G} with the largest number of {P}.',
                          f'Which {G} appears most often among the {P}?', f'What is the most frequent {G} of {P}?')
            if g.words and g.words[-1] in PLACE_WORDS and self.nat(0.5):
                q = self.pick(f'Which {G} do most {P} come from?', f'In which {G} are most {P}?',
                              f'Which {G} do most of the {P} {"live in" if self.is_person(t) else "come from"}?')
            d = 'DESC'
        else:
            q = self.pick(f'Which {G} has the fewest {P}?', f'What is the least common {G} among {P}?',
                          f'Find the {G} with the smallest number of {P}.')
            d = 'ASC'
        sql = f'SELECT {qi(g.name)} FROM {qi(t.name)} GROUP BY {qi(g.name)} ORDER BY count(*) {d} LIMIT 1'
        return Cand(q, sql, 'strict')

    def having_n(self, count_sql):
        """A threshold below the largest group count, or None."""
        key = ('having', count_sql)
        if key not in self.cache:
            rows = self.run(count_sql, 1)
            self.cache[key] = rows[0][0] if rows and rows[0][0] else 0
        top = self.cache[key]
        return self.rng.randint(1, min(top - 1, 10)) if top >= 2 else None

    def count_phrase(self, op, n, S, P):
        """'more than 3 orders' / 'at least 2 orders' / 'more than one order'."""
        if n <= 10 and self.nat(0.4):
            n = NUMBER_WORDS[n]
        if op == '>':
            return f'more than one {S}' if n in (1, 'one') else f'more than {n} {P}'
        return f'at least {n} {P}'

    def s_having(self):
        """SELECT g FROM t GROUP BY g HAVING count(*) > n."""
        x = self.group_col()
        if x is None:
            return None
        t, g = x
        grp = f'FROM {qi(t.name)} GROUP BY {qi(g.name)}'
        n = self.having_n(f'SELECT count(*) {grp} ORDER BY count(*) DESC LIMIT 1')
        if n is None:
            return None
        op = self.pick('>', '>', '>=')
        if op == '>=':
            n += 1
        GP, cnt = self.gp(g, t, True), self.count_phrase(op, n, t.sing, t.plur)
        q = self.pick(f'Which {GP} have {cnt}?', f'Show the {GP} that have {cnt}.',
                      f'List the {GP} with {cnt}.', f'Find the {GP} shared by {cnt}.',
                      f'What are the {GP} that appear in {cnt}?')
        return Cand(q, f'SELECT {qi(g.name)} {grp} HAVING count(*) {op} {n}', 'any')

    # ---- shapes: conditions of a special kind

    def s_date_year(self):
        """Rows of a given year: LIKE '2021%' or strftime('%Y', col) = '2021'."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.kind == 'date' and c.values)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.kind == 'date' and c.values))
        year = DATE_RE.match(self.choice(c.values)).group(1)
        ref = qi(c.name)
        sql = self.pick(f"{ref} LIKE '{year}%'", f"strftime('%Y', {ref}) = '{year}'")
        p = self.cp(c, t)
        cond = Cond(sql, [f'with {p} in {year}', f'whose {p} is in {year}', f'whose {p} falls in the year {year}',
                          f'with {a_(p)} in the year {year}'],
                    [f'have {p} in {year}', f'have {a_(p)} in the year {year}'], c)
        if self.rng.random() < 0.4:
            return self.count_where(t, cond)
        return self.list_with(t, cond)

    def s_date_group(self):
        """SELECT strftime('%Y', d), count(*) FROM t GROUP BY strftime('%Y', d)."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.kind == 'date')))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.kind == 'date'))
        y, p, P = f"strftime('%Y', {qi(c.name)})", self.cp(c, t), t.plur
        q = self.pick(f'How many {P} are there for each year of {p}?', f'Count the {P} by the year of their {p}.',
                      f'For each year of {p}, show the number of {P}.', f'Show the number of {P} per {p} year.')
        return Cand(q, f'SELECT {y}, count(*) FROM {qi(t.name)} GROUP BY {y}', 'any')

    def s_like(self):
        """SELECT label FROM t WHERE col LIKE '%word%'."""
        ok = lambda c: c.text_ok and not c.is_id and len(c.values) >= 3
        t = self.choice(self.tables_with(lambda t: self.cols(t, ok)))
        if t is None:
            return None
        c = self.choice(self.cols(t, ok))
        ws = [w for w in re.findall(r"[A-Za-z][A-Za-z']*[A-Za-z]", self.choice(c.values))
              if len(w) >= 3 and "'" not in w]
        w = self.choice(ws)
        if w is None:
            return None
        p = self.cp(c, t)
        cond = Cond(f"{qi(c.name)} LIKE '%{w}%'",
                    [f"whose {p} contains '{w}'", f"with '{w}' in their {p}", f"whose {p} includes '{w}'",
                     f"with {a_(p)} containing '{w}'", f'whose {p} contains the word "{w}"'],
                    [f"have '{w}' in their {p}", f"have {a_(p)} that contains '{w}'"], c)
        if self.rng.random() < 0.25:
            return self.count_where(t, cond)
        return self.list_with(t, cond)

    def s_between(self):
        """SELECT label FROM t WHERE col BETWEEN a AND b."""
        t = self.choice(self.tables_with(lambda t: self.cols(t, lambda c: c.measure and len(c.values) >= 4)))
        if t is None:
            return None
        c = self.choice(self.cols(t, lambda c: c.measure and len(c.values) >= 4))
        a, b = sorted(self.rng.sample(c.values, 2))
        p, A, B = self.cp(c, t), num_text(a), num_text(b)
        cond = Cond(f'{qi(c.name)} BETWEEN {A} AND {B}',
                    [f'whose {p} is between {A} and {B}', f'with {p} between {A} and {B}',
                     f'with {a_(p)} in the range {A} to {B}', f'whose {p} is from {A} to {B}'],
                    [f'have {p} between {A} and {B}', f'have {a_(p)} between {A} and {B}'], c)
        if self.rng.random() < 0.3:
            return self.count_where(t, cond)
        return self.list_with(t, cond)

    def s_and_or(self):
        """Two conditions joined with AND / OR (or one column with two values)."""
        t = self.choice(self.tables_with(lambda t: len(self.cols(t, lambda c: c.text_ok or c.measure)) >= 2))
        if t is None:
            return None
        if self.rng.random() < 0.3:
            c = self.choice(self.cols(t, lambda c: c.text_ok and c.category and len(c.values) >= 2))
            if c is None:
                return None
            a, b = self.rng.sample(c.values, 2)
            p, A, B = self.cp(c, t), self.qv(a), self.qv(b)
            mods = [f'whose {p} is {A} or {B}', f'with {p} {A} or {B}', f'whose {p} is either {A} or {B}']
            if len(c.words) == 1 and c.words[0] in PLACE_WORDS:
                mods.append(f'from {A} or {B}')
            cond = Cond(f'{qi(c.name)} = {lit(a)} OR {qi(c.name)} = {lit(b)}', mods,
                        [f'have {p} {A} or {B}'], c)
        else:
            c1, c2 = self.cond_any(t), self.cond_any(t)
            if not c1 or not c2 or c1.col is c2.col:
                return None
            conj = self.pick('AND', 'AND', 'OR')
            m1, m2 = self.mod(c1), self.mod(c2)
            if m1.startswith('whose ') and m2.startswith('whose '):
                m2 = m2[len('whose '):]
            cond = Cond(f'{c1.sql} {conj} {c2.sql}', [f'{m1} {conj.lower()} {m2}'],
                        [f'{self.choice(c1.pred)} {conj.lower()} {self.choice(c2.pred)}'], c1.col)
        if self.rng.random() < 0.3:
            return self.count_where(t, cond)
        cand = self.list_with(t, cond)
        return cand

    # ---- shapes: joins along foreign keys

    def fk_with(self, pred=lambda fk: True):
        """A random foreign key satisfying pred."""
        return self.choice([fk for fk in self.fks if pred(fk)])

    def join(self, fk, parent_first):
        """(FROM clause, parent alias, child alias) for a foreign key join."""
        if parent_first:
            return (f'{qi(fk.parent.name)} AS T1 JOIN {qi(fk.child.name)} AS T2 ON '
                    f'T1.{qi(fk.pcol.name)} = T2.{qi(fk.ccol.name)}', 'T1.', 'T2.')
        return (f'{qi(fk.child.name)} AS T1 JOIN {qi(fk.parent.name)} AS T2 ON '
                f'T1.{qi(fk.ccol.name)} = T2.{qi(fk.pcol.name)}', 'T2.', 'T1.')

    def role(self, fk):
        """The parent as the child sees it: 'support rep' for SupportRepId, else the table noun."""
        ws = [w for w in fk.ccol.words if w not in ('id', 'ids', 'code', 'key', 'fk') and len(w) > 1]
        r = ' '.join(ws)
        if ws and len(ws) <= 2 and ws != fk.pcol.words and not set(ws) & PREPOSITIONS \
                and r not in (fk.parent.sing, fk.child.sing, fk.parent.sing.split()[-1]) \
                and fk.ccol.words[-1] in ('id', 'ids') and self.rng.random() < 0.6:
            return r
        return fk.parent.sing

    def joined_values(self, fk, side, col):
        """Distinct values of a column among joined rows (cached)."""
        key = ('jv', fk, side, col.name)
        if key not in self.cache:
            frm, pa, ca = self.join(fk, True)
            a = pa if side == 'parent' else ca
            rows = self.run(f'SELECT DISTINCT {a}{qi(col.name)} FROM {frm} WHERE {a}{qi(col.name)} IS NOT NULL LIMIT 50', 50)
            self.cache[key] = [r[0] for r in rows or [] if usable_text(r[0]) or isinstance(r[0], (int, float))]
        return self.cache[key]

    def s_join_list(self):
        """SELECT child col FROM child JOIN parent ... WHERE parent.label = v."""
        fk = self.fk_with(lambda fk: fk.parent.label and len(fk.child.cols) > 1)
        if fk is None:
            return None
        pl = fk.parent.label
        v = self.choice(self.joined_values(fk, 'parent', pl))
        cs = self.display_cols(fk.child, exclude=fk.ccol)
        if v is None or not cs:
            return None
        frm, pa, ca = self.join(fk, self.rng.random() < 0.5)
        R, X, CP, val = self.role(fk), self.cols_phrase(fk.child, cs), fk.child.plur, self.qv(v)
        if fk.parent.label_is_name:
            of = self.pick(f'of the {R} {val}', f'belonging to the {R} {val}', f'whose {R} is {val}',
                           f'of the {R} named {val}', f'associated with the {R} {val}')
        else:
            of = f'whose {R} has {self.cp(pl, fk.parent)} {val}'
        q = self.pick(f'Show the {X} of {CP} {of}.', f'What are the {X} of the {CP} {of}?',
                      f'List the {X} of all {CP} {of}.', f'Find the {X} of {CP} {of}.')
        sql = f'SELECT {self.sel(cs, ca)} FROM {frm} WHERE {pa}{qi(pl.name)} = {lit(v)}'
        return Cand(q, sql, 'any')

    def s_join_count(self):
        """SELECT count(*) FROM child JOIN parent ... WHERE parent.label = v."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        pl = fk.parent.label
        v = self.choice(self.joined_values(fk, 'parent', pl))
        if v is None:
            return None
        frm, pa, ca = self.join(fk, self.rng.random() < 0.5)
        R, CP, val, p = self.role(fk), fk.child.plur, self.qv(v), self.cp(pl, fk.parent)
        if fk.parent.label_is_name:
            q = self.pick(f'How many {CP} does the {R} {val} have?', f'How many {CP} belong to the {R} named {val}?',
                          f'Count the {CP} of the {R} {val}.', f'What is the number of {CP} whose {R} is {val}?')
            if self.nat(0.4):
                q = self.pick(f'How many {CP} does {val} have?', f'How many {CP} does the {val} {self.pick("hold", "have")}?',
                              f'How many {CP} are there for {val}?', f'How many {CP} does {val} hold?')
        else:
            q = self.pick(f'How many {CP} have a {R} whose {p} is {val}?', f'Count the {CP} whose {R} has {p} {val}.')
        return Cand(q, f'SELECT count(*) FROM {frm} WHERE {pa}{qi(pl.name)} = {lit(v)}', 'count')

    def s_join_group_count(self):
        """SELECT parent.label, count(*) FROM parent JOIN child ... GROUP BY parent key."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        pl = fk.parent.label
        frm, pa, ca = self.join(fk, self.rng.random() < 0.6)
        R, CP, p = self.role(fk), fk.child.plur, self.cp(pl, fk.parent)
        q = self.pick(f'Show the {p} of each {R} and the number of {CP}.',
                      f'For each {R}, show the {p} and the number of {CP}.',
                      f'How many {CP} does each {R} have? List the {R} {p} and the count.',
                      f'List each {R} {p} together with the number of {CP}.',
                      f'Show the number of {CP} for each {R} {p}.')
        gb = self.pick(f'{pa}{qi(fk.pcol.name)}', f'{ca}{qi(fk.ccol.name)}')
        return Cand(q, f'SELECT {pa}{qi(pl.name)}, count(*) FROM {frm} GROUP BY {gb}', 'any')

    def s_join_top(self):
        """SELECT parent.label FROM parent JOIN child ... GROUP BY key ORDER BY count(*) DESC LIMIT 1."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        pl = fk.parent.label
        frm, pa, ca = self.join(fk, self.rng.random() < 0.6)
        R, CP, p = self.role(fk), fk.child.plur, self.cp(pl, fk.parent)
        if self.rng.random() < 0.8:
            qs = [f'What is the {p} of the {R} with the most {CP}?',
                  f'Find the {p} of the {R} that has the largest number of {CP}.',
                  f'Give me the {p} of the {R} with the most {CP}.']
            if fk.parent.label_is_name:
                qs += [f'Which {R} has the most {CP}?', f'Which {R} has the greatest number of {CP}?']
            ev = self.event_verbs(fk.child)
            if ev and self.nat(0.6):
                if self.is_person(fk.parent):
                    qs = [f'Which {R} has {ev[1]} the most?', f'What is the {p} of the {R} who {ev[1]} the most?',
                          f'Who has {ev[1]} the most times? Give the {p}.']
                else:
                    qs = [f'Which {R} has been {ev[0]} the most times? Give its {p}.',
                          f'What is the {p} of the {R} {ev[0]} most often?',
                          f'Which {R} was {ev[0]} the most?']
            d = 'DESC'
        else:
            qs = [f'What is the {p} of the {R} with the fewest {CP}?']
            if fk.parent.label_is_name:
                qs.append(f'Which {R} has the fewest {CP}?')
            d = 'ASC'
        sql = f'SELECT {pa}{qi(pl.name)} FROM {frm} GROUP BY {pa}{qi(fk.pcol.name)} ORDER BY count(*) {d} LIMIT 1'
        return Cand(self.choice(qs), sql, 'strict')

    def s_join_having(self):
        """SELECT parent.label FROM parent JOIN child ... GROUP BY key HAVING count(*) > n."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        pl = fk.parent.label
        frm, pa, ca = self.join(fk, True)
        grp = f'FROM {frm} GROUP BY {pa}{qi(fk.pcol.name)}'
        n = self.having_n(f'SELECT count(*) {grp} ORDER BY count(*) DESC LIMIT 1')
        if n is None:
            return None
        op = self.pick('>', '>', '>=')
        n += op == '>='
        R, p = self.role(fk), self.cp(pl, fk.parent, True)
        cnt = self.count_phrase(op, n, fk.child.sing, fk.child.plur)
        qs = [f'Show the {p} of {phrase_plural(R.split())} that have {cnt}.',
              f'List the {p} of the {phrase_plural(R.split())} with {cnt}.']
        if fk.parent.label_is_name:
            qs.append(f'Which {phrase_plural(R.split())} have {cnt}?')
        return Cand(self.choice(qs), f'SELECT {pa}{qi(pl.name)} {grp} HAVING count(*) {op} {n}', 'any')

    def s_join_parent_where(self):
        """SELECT parent.label FROM parent JOIN child ... WHERE child.col = v."""
        fk = self.fk_with(lambda fk: fk.parent.label and self.cols(fk.child, lambda c: c.text_ok and not c.fk))
        if fk is None:
            return None
        cc = self.choice(self.cols(fk.child, lambda c: c.text_ok and not c.fk))
        v = self.choice(self.joined_values(fk, 'child', cc))
        if v is None:
            return None
        pl = fk.parent.label
        frm, pa, ca = self.join(fk, self.rng.random() < 0.6)
        cond = self.cond_text(fk.child, cc, v, ca + qi(cc.name))
        R, p, CS = self.role(fk), self.cp(pl, fk.parent), fk.child.sing
        RP = phrase_plural(R.split())
        qs = [f'What is the {p} of the {R} of the {CS} {self.mod(cond)}?',
              f'Show the {self.cp(pl, fk.parent, True)} of {RP} that have a {CS} {self.mod(cond)}.',
              f'Find the {p} of the {R} for the {CS} {self.mod(cond)}.']
        if fk.parent.label_is_name:
            qs.append(f'Which {RP} have {fk.child.plur} {self.mod(cond)}?')
        return Cand(self.choice(qs), f'SELECT {pa}{qi(pl.name)} FROM {frm} WHERE {cond.sql}', 'any')

    def s_not_in(self):
        """SELECT label FROM parent WHERE key NOT IN (SELECT fk FROM child)."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        P, C, pl = fk.parent, fk.child, fk.parent.label
        X, PP, CP = self.cp(pl, P, True), P.plur, C.plur
        qs = [f'List the {X} of {PP} that do not have any {CP}.', f'Show the {X} of {PP} without any {CP}.',
              f'Find the {X} of the {PP} that have no {CP}.', f'What are the {X} of {PP} with no {CP}?']
        if fk.parent.label_is_name:
            qs.append(f'Which {PP} have no {CP}?')
        ev = self.event_verbs(C)
        if ev and self.nat(0.7):
            if self.is_person(P):
                qs = [f'List the {X} of {PP} who have never {ev[1]} anything.', f'Which {PP} have never {ev[1]} anything? Give their {X}.',
                      f'Show the {X} of the {PP} who never {ev[1]} anything.']
            else:
                qs = [f'Which {PP} have never been {ev[0]}? List their {X}.', f'List the {X} of {PP} that have never been {ev[0]}.',
                      f'Find the {X} of the {PP} that were never {ev[0]}.']
        sql = (f'SELECT {qi(pl.name)} FROM {qi(P.name)} WHERE {qi(fk.pcol.name)} NOT IN '
               f'(SELECT {qi(fk.ccol.name)} FROM {qi(C.name)})')
        return Cand(self.choice(qs), sql, 'any')

    def s_except(self):
        """SELECT label FROM parent EXCEPT SELECT T1.label FROM parent JOIN child ..."""
        fk = self.fk_with(lambda fk: fk.parent.label)
        if fk is None:
            return None
        P, C, pl = fk.parent, fk.child, fk.parent.label
        X, PP, CP, CS = self.cp(pl, P, True), P.plur, C.plur, C.sing
        qs = [f'Show the {X} of {PP} that never had any {CP}.', f'List the {X} of all {PP} except those that have {CP}.',
              f'Find the {X} of {PP} that have never had a {CS}.']
        if fk.parent.label_is_name:
            qs.append(f'Which {PP} have never had a {CS}?')
        frm, pa, ca = self.join(fk, True)
        sql = f'SELECT {qi(pl.name)} FROM {qi(P.name)} EXCEPT SELECT {pa}{qi(pl.name)} FROM {frm}'
        return Cand(self.choice(qs), sql, 'any')

    # ---- shapes of --natural only

    def s_null(self):
        """Rows without (or with) a value: col IS NULL / IS NOT NULL."""
        ok = lambda t: lambda c: (not c.pk and not c.fk and c.kind in ('date', 'text', 'num')
                                  and 0 < c.n_nonnull < t.n_rows)
        t = self.choice(self.tables_with(lambda t: self.cols(t, ok(t))))
        if t is None:
            return None
        c = self.choice(self.cols(t, ok(t)))
        p, pp = self.cp(c, t), self.participle(c)
        if self.rng.random() < 0.7:
            mods = [f'with no {p}', f'without {a_(p)}', f'whose {p} is missing', f'whose {p} is not known']
            pred = [f'have no {p}', f'do not have {a_(p)}']
            if pp and pp[1]:
                mods += [f'that have not been {pp[0]} yet', f'not yet {pp[0]}', f'that are still not {pp[0]}'] * 2
                pred += [f'have not been {pp[0]} yet', f'are not {pp[0]} yet'] * 2
            cond = Cond(f'{qi(c.name)} IS NULL', mods, pred, c)
        else:
            mods, pred = [f'with {a_(p)}', f'whose {p} is known', f'that have {a_(p)}'], [f'have {a_(p)}']
            if pp and pp[1]:
                mods += [f'that have been {pp[0]}', f'already {pp[0]}']
                pred += [f'have been {pp[0]}', f'were already {pp[0]}']
            cond = Cond(f'{qi(c.name)} IS NOT NULL', mods, pred, c)
        if self.rng.random() < 0.4:
            return self.count_where(t, cond)
        return self.list_with(t, cond)

    def s_col_compare(self):
        """Two dates (or years) of one row compared: col1 > col2."""
        kinds = (lambda c: c.kind == 'date', lambda c: c.kind == 'num' and 'year' in c.words)
        ok = lambda t: [k for k in kinds if len(self.cols(t, k)) >= 2]
        t = self.choice(self.tables_with(ok))
        if t is None:
            return None
        c1, c2 = self.rng.sample(self.cols(t, self.choice(ok(t))), 2)
        op = self.pick('>', '<')
        w, er = ('after', 'later') if op == '>' else ('before', 'earlier')
        p1, p2, pp = self.cp(c1, t), self.cp(c2, t), self.participle(c1)
        mods = [f'whose {p1} is {w} their {p2}', f'whose {p1} is {er} than their {p2}',
                f'with {a_(p1)} {w} the {p2}']
        pred = [f'have {a_(p1)} {er} than their {p2}', f'have {a_(p1)} {w} their {p2}']
        if pp and pp[1]:
            mods += [f'{pp[0]} {w} their {p2}', f'that were {pp[0]} {w} their {p2}']
            pred += [f'were {pp[0]} {w} their {p2}'] * 2
        cond = Cond(f'{qi(c1.name)} {op} {qi(c2.name)}', mods, pred, c1)
        if self.rng.random() < 0.5:
            return self.count_where(t, cond)
        return self.list_with(t, cond)


# (name, weight): how often each shape is tried, relative to the others.
SHAPES = [
    ('count_all', 2), ('count_where_text', 5), ('count_where_num', 4), ('list_where', 8),
    ('distinct', 4), ('order_by', 3), ('topk', 5), ('top1', 5), ('agg', 5), ('agg_where', 4),
    ('group_count', 5), ('group_agg', 4), ('group_top', 4), ('having', 4),
    ('join_list', 5), ('join_count', 4), ('join_group_count', 4), ('join_top', 4),
    ('join_having', 2), ('join_parent_where', 4), ('not_in', 3), ('except', 2),
    ('date_year', 4), ('date_group', 2), ('like', 4), ('between', 3), ('and_or', 5),
]

# --natural adds these to SHAPES.
NATURAL_SHAPES = [('null', 3), ('col_compare', 2)]


def parse_shapes(text):
    """--shapes 'list_all:6,list_where:3' as [(name, weight)]."""
    out = []
    for part in text.split(','):
        name, _, w = part.partition(':')
        if not hasattr(Gen, 's_' + name):
            raise argparse.ArgumentTypeError(f'no shape called {name!r}')
        try:
            out.append((name, float(w) if w else 1.0))
        except ValueError:
            raise argparse.ArgumentTypeError(f'weight of {name!r} is not a number: {w!r}')
    return out


def check(gen, cand):
    """Whether a candidate query runs and gives a non-empty answer."""
    rows = gen.run(cand.query, 1)
    if not rows:
        return False
    row = rows[0]
    if cand.check == 'count':
        return isinstance(row[0], int) and row[0] > 0
    if cand.check == 'strict':
        return all(v is not None for v in row)
    return any(v is not None for v in row)


def stable_seed(seed, path):
    """seed + a hash of the path that does not change between runs."""
    return seed + int.from_bytes(hashlib.sha256(path.encode('utf-8')).digest()[:8], 'big')


def generate(gen, per_db, deadline, note, shapes=SHAPES):
    """Up to per_db (shape, question, query) triples spread over the shapes
    ([(name, weight)])."""
    total_w = sum(w for _, w in shapes)
    caps = {s: max(1, math.ceil(per_db * w / total_w)) for s, w in shapes}
    counts, fails, dead = Counter(), Counter(), set()
    seen_q, seen_sql, out = set(), Counter(), []
    attempts = 0
    while len(out) < per_db and attempts < per_db * 25 and time.monotonic() < deadline:
        live = [(s, w) for s, w in shapes if s not in dead and counts[s] < caps[s]]
        if not live:
            if not [s for s, _ in shapes if s not in dead]:
                break
            caps = {s: math.ceil(c * 1.5) + 1 for s, c in caps.items()}
            continue
        attempts += 1
        s = gen.rng.choices([s for s, _ in live], weights=[w for _, w in live])[0]
        gen.qstyle = gen.rng.random()
        try:
            cand = getattr(gen, 's_' + s)()
        except (IndexError, ValueError):
            cand = None          # too few values for random.sample and the like
        except Exception as e:   # a bug on an odd schema: drop the shape, keep the database
            note(f'shape {s}: {type(e).__name__}: {e}, shape dropped')
            dead.add(s)
            continue
        q = cand and polish(cand.question)
        if q and gen.nat(0.15):
            q = polish(gen.fill(q))
        ok = (cand is not None and q not in seen_q
              and seen_sql[cand.query] < 2 and check(gen, cand))
        if not ok:
            fails[s] += 1
            if fails[s] > 15 + 4 * counts[s]:
                dead.add(s)
            continue
        seen_q.add(q)
        seen_sql[cand.query] += 1
        counts[s] += 1
        out.append((s, q, cand.query))
    return out


def db_id_of(path):
    """The file name up to its first dot (Spider's <db_id>/<db_id>.sqlite gives db_id)."""
    return os.path.basename(path).split('.')[0]


def process_db(path, args, note):
    """All rows for one database (an empty list when it cannot be read)."""
    t0 = time.monotonic()
    deadline = t0 + args.time_per_db
    try:
        conn = open_ro(path)
        timer = Timeout(conn)
        tables, fks = load_schema(conn, timer, deadline, note)
    except (sqlite3.Error, OSError, ValueError) as e:
        note(f'cannot read: {e}')
        return []
    if not tables:
        note('no usable table')
        return []
    rng = random.Random(stable_seed(args.seed, path))
    gen = Gen(conn, timer, tables, fks, rng, args.query_timeout)
    if args.natural:
        gen.natural = True
        gen.domain = [w for w in words(db_id_of(path)) if w.isalpha()][:2]
    try:
        rows = generate(gen, args.per_db, deadline, note, args.shapes)
    finally:
        conn.close()
    rng.shuffle(rows)
    dbid = db_id_of(path)
    return [{'db_path': path, 'db_id': dbid, 'question': q, 'query': sql, 'shape': s} for s, q, sql in rows]


def main(argv=None):
    """Parse arguments, generate for each database, write JSONL and a summary."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output JSONL file')
    ap.add_argument('--per-db', type=int, default=150, help='pairs per database (default 150)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--time-per-db', type=float, default=30.0, help='seconds per database (default 30)')
    ap.add_argument('--query-timeout', type=float, default=1.0, help='seconds per query (default 1)')
    ap.add_argument('--shapes', type=parse_shapes, default=SHAPES,
                    help="shapes and weights, e.g. 'list_all:6,list_where:3' (default: SHAPES)")
    ap.add_argument('--natural', action='store_true',
                    help='everyday wording too (verbs of date columns, "more than 500 pages", IS NULL, '
                         'two dates compared, words around the question); adds NATURAL_SHAPES to the default shapes')
    ap.add_argument('dbs', nargs='+', metavar='DB.sqlite')
    args = ap.parse_args(argv)
    if args.natural and args.shapes is SHAPES:
        args.shapes = SHAPES + NATURAL_SHAPES
    shapes, per_db = Counter(), []
    with open(args.out, 'w', encoding='utf-8') as f:
        for path in sorted(set(args.dbs)):
            t0 = time.monotonic()

            def note(msg, path=path):
                print(f'{path}: {msg}', file=sys.stderr)
            try:
                rows = process_db(path, args, note)
            except Exception as e:          # never let one odd database stop the run
                note(f'failed: {type(e).__name__}: {e}')
                rows = []
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + '\n')
                shapes[r['shape']] += 1
            per_db.append((db_id_of(path), len(rows), time.monotonic() - t0))
    print('pairs per shape:', file=sys.stderr)
    for s, _ in args.shapes:
        print(f'  {s:18} {shapes[s]}', file=sys.stderr)
    print('pairs per database:', file=sys.stderr)
    for dbid, n, secs in per_db:
        print(f'  {dbid:32} {n:5}  {secs:6.2f}s', file=sys.stderr)
    print(f'total {sum(shapes.values())} pairs from {len(per_db)} databases -> {args.out}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
