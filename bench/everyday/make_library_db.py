#!/usr/bin/env python3
"""make_library_db.py — builds bench/everyday/databases/library/library.sqlite,
the database of the second everyday test set (bench/everyday/library.jsonl): a
small public library in Oxfordshire (branches, authors, books, members, loans)
with declared foreign keys and a few hundred rows. The loans run from January
2023 to the snapshot date, 2024-06-30; a loan whose return_date is NULL is
still out. Some books were never borrowed, some members never borrowed
anything, and a few loans are overdue. Standard library only; a fixed seed
makes every run write the same rows (and, with the same SQLite, the same bytes).

    python3 bench/everyday/make_library_db.py [--out PATH]
"""
import argparse
import datetime
import os
import random
import sqlite3

SEED = 20240630

SCHEMA = """
CREATE TABLE branches (
    branch_id   INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    city        TEXT NOT NULL,
    opened_year INTEGER NOT NULL
);
CREATE TABLE authors (
    author_id  INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    country    TEXT NOT NULL,
    birth_year INTEGER NOT NULL
);
CREATE TABLE books (
    book_id        INTEGER PRIMARY KEY,
    title          TEXT NOT NULL,
    author_id      INTEGER NOT NULL REFERENCES authors(author_id),
    genre          TEXT NOT NULL,
    published_year INTEGER NOT NULL,
    pages          INTEGER NOT NULL CHECK (pages > 0),
    isbn           TEXT NOT NULL UNIQUE,
    branch_id      INTEGER NOT NULL REFERENCES branches(branch_id)
);
CREATE TABLE members (
    member_id       INTEGER PRIMARY KEY,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    city            TEXT NOT NULL,
    joined_date     TEXT NOT NULL,
    membership_type TEXT NOT NULL CHECK (membership_type IN ('adult', 'student', 'senior', 'child'))
);
CREATE TABLE loans (
    loan_id     INTEGER PRIMARY KEY,
    book_id     INTEGER NOT NULL REFERENCES books(book_id),
    member_id   INTEGER NOT NULL REFERENCES members(member_id),
    loan_date   TEXT NOT NULL,
    due_date    TEXT NOT NULL,
    return_date TEXT
);
CREATE INDEX books_author ON books(author_id);
CREATE INDEX loans_book ON loans(book_id);
CREATE INDEX loans_member ON loans(member_id);
CREATE INDEX loans_date ON loans(loan_date);
"""

BRANCHES = [
    ("Central Library", "Oxford", 1973),
    ("Abingdon Library", "Abingdon", 1988),
    ("Witney Library", "Witney", 1995),
    ("Banbury Library", "Banbury", 2004),
]

# (name, country, birth_year, [(title, genre, published_year, pages), ...]);
# pages as in a common paperback edition. The last two authors have no books
# on the shelves yet.
AUTHORS = [
    ("Jane Austen", "United Kingdom", 1775, [
        ("Pride and Prejudice", "Romance", 1813, 432), ("Emma", "Romance", 1815, 474),
        ("Persuasion", "Romance", 1817, 249), ("Sense and Sensibility", "Romance", 1811, 409)]),
    ("Charles Dickens", "United Kingdom", 1812, [
        ("Great Expectations", "Fiction", 1861, 544), ("A Tale of Two Cities", "Fiction", 1859, 489),
        ("Oliver Twist", "Fiction", 1838, 608)]),
    ("Agatha Christie", "United Kingdom", 1890, [
        ("Murder on the Orient Express", "Mystery", 1934, 274), ("And Then There Were None", "Mystery", 1939, 272),
        ("The Murder of Roger Ackroyd", "Mystery", 1926, 312), ("Death on the Nile", "Mystery", 1937, 333)]),
    ("Arthur Conan Doyle", "United Kingdom", 1859, [
        ("The Hound of the Baskervilles", "Mystery", 1902, 256), ("A Study in Scarlet", "Mystery", 1887, 188)]),
    ("George Orwell", "United Kingdom", 1903, [
        ("Nineteen Eighty-Four", "Science Fiction", 1949, 328), ("Animal Farm", "Fiction", 1945, 112)]),
    ("Virginia Woolf", "United Kingdom", 1882, [
        ("Mrs Dalloway", "Fiction", 1925, 194), ("To the Lighthouse", "Fiction", 1927, 209)]),
    ("J. R. R. Tolkien", "United Kingdom", 1892, [
        ("The Hobbit", "Fantasy", 1937, 310), ("The Fellowship of the Ring", "Fantasy", 1954, 423)]),
    ("Mary Shelley", "United Kingdom", 1797, [("Frankenstein", "Horror", 1818, 280)]),
    ("Bram Stoker", "Ireland", 1847, [("Dracula", "Horror", 1897, 418)]),
    ("Roald Dahl", "United Kingdom", 1916, [
        ("Matilda", "Children", 1988, 240), ("Charlie and the Chocolate Factory", "Children", 1964, 176)]),
    ("Kazuo Ishiguro", "United Kingdom", 1954, [
        ("The Remains of the Day", "Fiction", 1989, 258), ("Never Let Me Go", "Science Fiction", 2005, 288)]),
    ("Mark Twain", "USA", 1835, [
        ("Adventures of Huckleberry Finn", "Fiction", 1884, 366), ("The Adventures of Tom Sawyer", "Fiction", 1876, 274)]),
    ("F. Scott Fitzgerald", "USA", 1896, [
        ("The Great Gatsby", "Fiction", 1925, 180), ("Tender Is the Night", "Fiction", 1934, 317)]),
    ("Ernest Hemingway", "USA", 1899, [
        ("The Old Man and the Sea", "Fiction", 1952, 127), ("A Farewell to Arms", "Fiction", 1929, 332),
        ("For Whom the Bell Tolls", "Fiction", 1940, 480)]),
    ("Toni Morrison", "USA", 1931, [("Beloved", "Fiction", 1987, 324), ("Song of Solomon", "Fiction", 1977, 337)]),
    ("Harper Lee", "USA", 1926, [("To Kill a Mockingbird", "Fiction", 1960, 281)]),
    ("Ray Bradbury", "USA", 1920, [
        ("Fahrenheit 451", "Science Fiction", 1953, 158), ("The Martian Chronicles", "Science Fiction", 1950, 222)]),
    ("Ursula K. Le Guin", "USA", 1929, [
        ("A Wizard of Earthsea", "Fantasy", 1968, 183), ("The Left Hand of Darkness", "Science Fiction", 1969, 304),
        ("The Dispossessed", "Science Fiction", 1974, 387)]),
    ("Isaac Asimov", "USA", 1920, [("Foundation", "Science Fiction", 1951, 255), ("I, Robot", "Science Fiction", 1950, 253)]),
    ("Carl Sagan", "USA", 1934, [("Cosmos", "Science", 1980, 365), ("Pale Blue Dot", "Science", 1994, 429)]),
    ("Walter Isaacson", "USA", 1952, [
        ("Steve Jobs", "Biography", 2011, 656), ("Einstein: His Life and Universe", "Biography", 2007, 675)]),
    ("Michelle Obama", "USA", 1964, [("Becoming", "Biography", 2018, 448)]),
    ("Leo Tolstoy", "Russia", 1828, [("War and Peace", "Fiction", 1869, 1225), ("Anna Karenina", "Fiction", 1878, 864)]),
    ("Fyodor Dostoevsky", "Russia", 1821, [
        ("Crime and Punishment", "Fiction", 1866, 545), ("The Brothers Karamazov", "Fiction", 1880, 796)]),
    ("Gabriel Garcia Marquez", "Colombia", 1927, [
        ("One Hundred Years of Solitude", "Fiction", 1967, 417), ("Love in the Time of Cholera", "Romance", 1985, 348)]),
    ("Isabel Allende", "Chile", 1942, [("The House of the Spirits", "Fiction", 1982, 433)]),
    ("Pablo Neruda", "Chile", 1904, [("Twenty Love Poems and a Song of Despair", "Poetry", 1924, 70)]),
    ("Haruki Murakami", "Japan", 1949, [
        ("Norwegian Wood", "Fiction", 1987, 296), ("Kafka on the Shore", "Fiction", 2002, 505), ("1Q84", "Fiction", 2009, 925)]),
    ("Chinua Achebe", "Nigeria", 1930, [("Things Fall Apart", "Fiction", 1958, 209)]),
    ("Chimamanda Ngozi Adichie", "Nigeria", 1977, [
        ("Half of a Yellow Sun", "Fiction", 2006, 433), ("Americanah", "Fiction", 2013, 477)]),
    ("Albert Camus", "France", 1913, [("The Stranger", "Fiction", 1942, 123), ("The Plague", "Fiction", 1947, 308)]),
    ("Victor Hugo", "France", 1802, [
        ("Les Miserables", "Fiction", 1862, 1463), ("The Hunchback of Notre-Dame", "Fiction", 1831, 510)]),
    ("Jules Verne", "France", 1828, [
        ("Twenty Thousand Leagues Under the Seas", "Science Fiction", 1870, 426),
        ("Around the World in Eighty Days", "Fiction", 1872, 252)]),
    ("Franz Kafka", "Czechia", 1883, [("The Trial", "Fiction", 1925, 255), ("The Metamorphosis", "Fiction", 1915, 104)]),
    ("Thomas Mann", "Germany", 1875, [("The Magic Mountain", "Fiction", 1924, 706), ("Buddenbrooks", "Fiction", 1901, 731)]),
    ("Hermann Hesse", "Germany", 1877, [("Siddhartha", "Fiction", 1922, 152), ("Steppenwolf", "Fiction", 1927, 237)]),
    ("Astrid Lindgren", "Sweden", 1907, [
        ("Pippi Longstocking", "Children", 1945, 160), ("The Brothers Lionheart", "Children", 1973, 231)]),
    ("Stieg Larsson", "Sweden", 1954, [("The Girl with the Dragon Tattoo", "Mystery", 2005, 465)]),
    ("Jo Nesbo", "Norway", 1960, [("The Snowman", "Mystery", 2007, 375)]),
    ("Umberto Eco", "Italy", 1932, [("The Name of the Rose", "Mystery", 1980, 536)]),
    ("Italo Calvino", "Italy", 1923, [("Invisible Cities", "Fiction", 1972, 165)]),
    ("Mary Beard", "United Kingdom", 1955, [("SPQR", "History", 2015, 608)]),
    ("Yuval Noah Harari", "Israel", 1976, [("Sapiens", "History", 2011, 443)]),
    ("Stephen Hawking", "United Kingdom", 1942, [("A Brief History of Time", "Science", 1988, 212)]),
    ("Sally Rooney", "Ireland", 1991, []),
    ("Elena Ferrante", "Italy", 1943, []),
]

TOWNS = ["Oxford"] * 6 + ["Abingdon"] * 3 + ["Witney"] * 3 + ["Banbury"] * 2 + ["Didcot", "Thame", "Bicester"]

FIRST = ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Grace",
         "Thomas", "Freya", "James", "Lily", "William", "Ella", "Henry", "Sophie", "Samuel", "Chloe",
         "Daniel", "Hannah", "Joseph", "Evie", "Edward", "Ruby", "Arjun", "Priya", "Tomasz", "Zofia",
         "Kwame", "Ama", "Mohammed", "Aisha", "Liam", "Niamh", "Margaret", "Peter", "Susan", "David"]
LAST = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
        "Johnson", "Lewis", "Walker", "Robinson", "Wood", "Thompson", "White", "Hughes", "Edwards", "Green",
        "Hall", "Clarke", "Patel", "Khan", "Nowak", "Mensah", "O'Brien", "Murphy", "Turner", "Cooper"]

TYPES = ["adult"] * 10 + ["student"] * 4 + ["senior"] * 4 + ["child"] * 2

LOAN_START = datetime.date(2023, 1, 2)
SNAPSHOT = datetime.date(2024, 6, 30)
LOAN_DAYS = 21


def day(d):
    return d.isoformat()


def isbn13(rnd):
    digits = [9, 7, 8] + [rnd.randint(0, 9) for _ in range(9)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits + [check]))


def build(path):
    rnd = random.Random(SEED)
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)

    db.executemany("INSERT INTO branches VALUES (?, ?, ?, ?)",
                   [(i, n, c, y) for i, (n, c, y) in enumerate(BRANCHES, 1)])

    authors, books, isbns = [], [], set()
    for aid, (name, country, born, titles) in enumerate(AUTHORS, 1):
        authors.append((aid, name, country, born))
        for title, genre, year, pages in titles:
            isbn = isbn13(rnd)
            while isbn in isbns:
                isbn = isbn13(rnd)
            isbns.add(isbn)
            branch = rnd.choices([1, 2, 3, 4], weights=[5, 2, 2, 1])[0]
            books.append((len(books) + 1, title, aid, genre, year, pages, isbn, branch))
    db.executemany("INSERT INTO authors VALUES (?, ?, ?, ?)", authors)
    db.executemany("INSERT INTO books VALUES (?, ?, ?, ?, ?, ?, ?, ?)", books)

    members, names = [], set()
    while len(members) < 70:
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        if (first, last) in names:
            continue
        names.add((first, last))
        joined = datetime.date(2015, 1, 1) + datetime.timedelta(days=rnd.randint(0, (SNAPSHOT - datetime.date(2015, 1, 1)).days - 20))
        members.append((len(members) + 1, first, last, rnd.choice(TOWNS), day(joined), rnd.choice(TYPES)))
    db.executemany("INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)", members)

    # Who borrows how often, and which books are popular; every eleventh
    # member and every ninth book never come up.
    activity = [0.0 if m[0] % 11 == 0 else rnd.lognormvariate(0, 0.8) for m in members]
    popularity = [0.0 if b[0] % 9 == 0 else rnd.lognormvariate(0, 0.7) for b in books]
    out_until = {}  # book_id -> date it comes back (None: never, in this snapshot)
    loans = []
    d = LOAN_START
    while d < SNAPSHOT:
        for _ in range(rnd.choices([0, 1, 2], weights=[55, 37, 8])[0]):
            who = [i for i, m in enumerate(members) if m[4] < day(d) and activity[i] > 0]
            what = [i for i, b in enumerate(books) if popularity[i] > 0
                    and (b[0] not in out_until or (out_until[b[0]] is not None and out_until[b[0]] < d))]
            if not who or not what:
                continue
            m = members[rnd.choices(who, weights=[activity[i] for i in who])[0]]
            b = books[rnd.choices(what, weights=[popularity[i] for i in what])[0]]
            due = d + datetime.timedelta(days=LOAN_DAYS)
            r = rnd.random()
            if r < 0.02:
                back = None  # lost, never returned
            elif r < 0.17:
                back = due + datetime.timedelta(days=rnd.randint(1, 30))  # late
            else:
                back = d + datetime.timedelta(days=rnd.randint(2, LOAN_DAYS))
            if back is not None and back > SNAPSHOT:
                back = None
            out_until[b[0]] = back
            loans.append((len(loans) + 1, b[0], m[0], day(d), day(due), day(back) if back else None))
        d += datetime.timedelta(days=1)
    db.executemany("INSERT INTO loans VALUES (?, ?, ?, ?, ?, ?)", loans)
    db.commit()
    db.execute("VACUUM")
    db.close()
    return {"branches": len(BRANCHES), "authors": len(authors), "books": len(books),
            "members": len(members), "loans": len(loans)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "databases", "library", "library.sqlite"))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    counts = build(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
