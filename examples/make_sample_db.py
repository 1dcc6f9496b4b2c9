#!/usr/bin/env python3
"""make_sample_db.py — builds examples/shop.sqlite, the sample database of
sqlassist: a small web shop (categories, suppliers, products, customers,
employees, orders, order_items) with declared foreign keys and a few thousand
plausible rows of 2022-2024. Standard library only; a fixed seed makes every
run produce the same rows.

    python3 examples/make_sample_db.py [--out examples/shop.sqlite]
"""
import argparse
import datetime
import os
import random
import sqlite3

SEED = 20240517

SCHEMA = """
CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT
);
CREATE TABLE suppliers (
    supplier_id  INTEGER PRIMARY KEY,
    company_name TEXT NOT NULL,
    contact_name TEXT,
    city         TEXT NOT NULL,
    country      TEXT NOT NULL,
    phone        TEXT
);
CREATE TABLE products (
    product_id     INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    category_id    INTEGER NOT NULL REFERENCES categories(category_id),
    supplier_id    INTEGER REFERENCES suppliers(supplier_id),
    unit_price     REAL NOT NULL CHECK (unit_price > 0),
    units_in_stock INTEGER NOT NULL DEFAULT 0,
    discontinued   INTEGER NOT NULL DEFAULT 0 CHECK (discontinued IN (0, 1))
);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    city        TEXT NOT NULL,
    country     TEXT NOT NULL,
    signup_date TEXT NOT NULL
);
CREATE TABLE employees (
    employee_id INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    title       TEXT NOT NULL,
    hire_date   TEXT NOT NULL,
    manager_id  INTEGER REFERENCES employees(employee_id),
    salary      INTEGER NOT NULL
);
CREATE TABLE orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(customer_id),
    employee_id  INTEGER REFERENCES employees(employee_id),
    order_date   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled', 'returned')),
    shipped_date TEXT,
    ship_city    TEXT NOT NULL,
    ship_country TEXT NOT NULL
);
CREATE TABLE order_items (
    order_id   INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    discount   REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_date ON orders(order_date);
CREATE INDEX order_items_product ON order_items(product_id);
"""

CITIES = [
    ("London", "United Kingdom"), ("Manchester", "United Kingdom"), ("Paris", "France"),
    ("Lyon", "France"), ("Berlin", "Germany"), ("Munich", "Germany"), ("Hamburg", "Germany"),
    ("Madrid", "Spain"), ("Barcelona", "Spain"), ("Rome", "Italy"), ("Milan", "Italy"),
    ("Amsterdam", "Netherlands"), ("Rotterdam", "Netherlands"), ("Brussels", "Belgium"),
    ("Vienna", "Austria"), ("Zurich", "Switzerland"), ("Stockholm", "Sweden"), ("Oslo", "Norway"),
    ("Copenhagen", "Denmark"), ("Helsinki", "Finland"), ("Warsaw", "Poland"), ("Prague", "Czechia"),
    ("Lisbon", "Portugal"), ("Dublin", "Ireland"), ("New York", "USA"), ("Chicago", "USA"),
    ("Seattle", "USA"), ("Austin", "USA"), ("Toronto", "Canada"), ("Montreal", "Canada"),
    ("Mexico City", "Mexico"), ("Sao Paulo", "Brazil"), ("Buenos Aires", "Argentina"),
    ("Tokyo", "Japan"), ("Osaka", "Japan"), ("Seoul", "South Korea"), ("Singapore", "Singapore"),
    ("Sydney", "Australia"), ("Melbourne", "Australia"), ("Auckland", "New Zealand"),
]
# Big cities get more customers, as in real shops.
CITY_WEIGHTS = [9 if c in ("London", "Paris", "Berlin", "New York", "Tokyo") else 3 for c, _ in CITIES]

FIRST = ["Emma", "Liam", "Olivia", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo",
         "Isabella", "Leon", "Amelia", "Hugo", "Charlotte", "Luca", "Emily", "Oscar", "Hannah",
         "Arthur", "Sofia", "Jonas", "Lea", "Felix", "Clara", "Louis", "Alice", "Jakob", "Nora",
         "Theo", "Ines", "Marco", "Giulia", "Pablo", "Lucia", "Sven", "Freya", "Anton", "Yuki",
         "Haruto", "Min-jun", "Ji-woo", "Wei", "Mei", "Aarav", "Priya", "Omar", "Layla", "Diego",
         "Valentina", "Ethan", "Grace", "Samuel", "Chloe", "Daniel", "Zoe", "David", "Maya",
         "Jack", "Ella"]
LAST = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Martin", "Bernard", "Dubois", "Durand",
        "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Garcia", "Martinez", "Lopez",
        "Rossi", "Russo", "Ferrari", "de Jong", "Jansen", "Peeters", "Gruber", "Huber", "Andersson",
        "Johansson", "Hansen", "Nielsen", "Virtanen", "Nowak", "Kowalski", "Novak", "Silva",
        "Santos", "Murphy", "Kelly", "Tanaka", "Suzuki", "Kim", "Lee", "Park", "Chen", "Wang",
        "Patel", "Singh", "Haddad", "Gonzalez", "Rodriguez", "Clark", "Walker", "Young", "King",
        "Wright", "Scott", "Green", "Baker", "Hall", "Allen", "Moreau"]

CATEGORIES = [
    ("Beverages", "Coffee, tea, juices and soft drinks",
     ["Espresso Beans", "Green Tea", "Earl Grey", "Orange Juice", "Sparkling Water", "Cold Brew",
      "Chai Latte Mix", "Apple Cider", "Lemonade", "Hot Chocolate"]),
    ("Bakery", "Bread, pastries and cakes",
     ["Sourdough Loaf", "Croissant Pack", "Rye Bread", "Bagels", "Cinnamon Rolls", "Baguette",
      "Muffins", "Brioche", "Pretzels", "Oat Cookies"]),
    ("Dairy", "Milk, cheese, butter and yogurt",
     ["Whole Milk", "Greek Yogurt", "Cheddar", "Brie", "Butter", "Mozzarella", "Parmesan",
      "Cream Cheese", "Kefir", "Goat Cheese"]),
    ("Produce", "Fresh fruit and vegetables",
     ["Apples", "Bananas", "Avocados", "Tomatoes", "Spinach", "Carrots", "Blueberries",
      "Sweet Potatoes", "Lemons", "Mushrooms"]),
    ("Pantry", "Pasta, rice, sauces and spices",
     ["Spaghetti", "Basmati Rice", "Olive Oil", "Tomato Sauce", "Sea Salt", "Black Pepper",
      "Honey", "Peanut Butter", "Oats", "Chickpeas"]),
    ("Snacks", "Chips, nuts and sweets",
     ["Potato Chips", "Salted Almonds", "Dark Chocolate", "Trail Mix", "Popcorn", "Gummy Bears",
      "Rice Crackers", "Granola Bars", "Cashews", "Pretzel Sticks"]),
    ("Household", "Cleaning and kitchen supplies",
     ["Dish Soap", "Paper Towels", "Laundry Detergent", "Sponges", "Trash Bags", "Glass Cleaner",
      "Aluminium Foil", "Baking Paper", "Hand Soap", "Candles"]),
    ("Electronics", "Small gadgets and accessories",
     ["USB-C Cable", "Wireless Mouse", "Bluetooth Speaker", "Phone Charger", "Earbuds",
      "Power Bank", "HDMI Cable", "Webcam", "Keyboard", "LED Desk Lamp"]),
    ("Books", "Cookbooks and guides",
     ["Italian Cookbook", "Baking Basics", "Vegan Kitchen", "Coffee Guide", "Wine Atlas",
      "Spice Handbook", "Bread Science", "Tea Companion", "Cheese Primer", "Street Food"]),
    ("Garden", "Plants, seeds and tools",
     ["Basil Plant", "Tomato Seeds", "Garden Gloves", "Watering Can", "Potting Soil",
      "Pruning Shears", "Lavender Plant", "Plant Pot", "Bird Feeder", "Compost Bin"]),
]
# Typical price range per category (euros).
PRICE = {"Beverages": (2, 25), "Bakery": (1.5, 9), "Dairy": (1, 14), "Produce": (0.8, 8),
         "Pantry": (1, 15), "Snacks": (1, 10), "Household": (1.5, 20), "Electronics": (8, 120),
         "Books": (9, 45), "Garden": (3, 60)}
VARIANTS = ["", "Organic ", "Premium ", "Family Size "]

SUPPLIER_WORDS = ["Nordic", "Alpine", "Golden", "Riverside", "Harbor", "Sunrise", "Evergreen",
                  "Atlas", "Meadow", "Summit", "Coastal", "Urban", "Heritage", "Pioneer", "Crown"]
SUPPLIER_KINDS = ["Foods", "Trading", "Supplies", "Imports", "Goods", "Distribution", "Farms"]

TITLES = ["Sales Representative"] * 8 + ["Customer Support"] * 3 + ["Sales Manager", "Logistics Coordinator"]

START = datetime.date(2022, 1, 1)
END = datetime.date(2024, 12, 31)


def day(d):
    return d.isoformat()


def build(path):
    rnd = random.Random(SEED)
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)

    for i, (name, desc, _) in enumerate(CATEGORIES, 1):
        db.execute("INSERT INTO categories VALUES (?, ?, ?)", (i, name, desc))

    suppliers = []
    used = set()
    while len(suppliers) < 20:
        company = f"{rnd.choice(SUPPLIER_WORDS)} {rnd.choice(SUPPLIER_KINDS)}"
        if company in used:
            continue
        used.add(company)
        city, country = rnd.choice(CITIES[:24])  # suppliers are European
        contact = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        phone = f"+{rnd.randint(30, 49)} {rnd.randint(100, 999)} {rnd.randint(1000000, 9999999)}"
        suppliers.append((len(suppliers) + 1, company, contact, city, country, phone))
    db.executemany("INSERT INTO suppliers VALUES (?, ?, ?, ?, ?, ?)", suppliers)

    products = []
    for cat_id, (cat, _, names) in enumerate(CATEGORIES, 1):
        lo, hi = PRICE[cat]
        for base in names:
            for variant in rnd.sample(VARIANTS, rnd.randint(1, 2)):
                price = round(rnd.uniform(lo, hi), 2)
                if variant == "Premium ":
                    price = round(price * 1.4, 2)
                stock = 0 if rnd.random() < 0.08 else rnd.randint(5, 400)
                products.append((len(products) + 1, variant + base, cat_id, rnd.randint(1, len(suppliers)),
                                 price, stock, 1 if rnd.random() < 0.06 else 0))
    db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)", products)

    employees = [(1, "Margaret", "Hale", "Head of Sales", "2018-03-01", None, 98000)]
    for i in range(2, 16):
        title = TITLES[(i - 2) % len(TITLES)]
        manager = 1 if title in ("Sales Manager", "Logistics Coordinator") or i < 4 else rnd.randint(2, 3)
        hired = START - datetime.timedelta(days=rnd.randint(30, 1500))
        salary = {"Sales Representative": 52000, "Customer Support": 45000}.get(title, 70000) + rnd.randint(0, 40) * 250
        employees.append((i, rnd.choice(FIRST), rnd.choice(LAST), title, day(hired), manager, salary))
    db.executemany("INSERT INTO employees VALUES (?, ?, ?, ?, ?, ?, ?)", employees)

    customers = []
    emails = set()
    for cid in range(1, 651):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        base = f"{first}.{last}".lower().replace(" ", "").replace("-", "")
        email = f"{base}@example.com"
        n = 2
        while email in emails:
            email = f"{base}{n}@example.com"
            n += 1
        emails.add(email)
        city, country = rnd.choices(CITIES, weights=CITY_WEIGHTS)[0]
        signup = START - datetime.timedelta(days=200) + datetime.timedelta(days=rnd.randint(0, 1200))
        customers.append((cid, first, last, email, city, country, day(min(signup, END))))
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", customers)

    sales_reps = [e[0] for e in employees if e[3] == "Sales Representative"]
    orders, items = [], []
    # Some customers buy much more often than others; business grows a little.
    activity = {c[0]: rnd.lognormvariate(0, 0.9) for c in customers}
    span = (END - START).days
    for oid in range(1, 2601):
        ordered = START + datetime.timedelta(days=int(span * rnd.random() ** 0.8))
        eligible = [c for c in customers if c[6] <= day(ordered)]
        cust = rnd.choices(eligible, weights=[activity[c[0]] for c in eligible])[0]
        age = (END - ordered).days
        r = rnd.random()
        if age < 3:
            status = "pending"
        elif age < 10:
            status = "shipped" if r < 0.8 else "pending"
        elif r < 0.05:
            status = "cancelled"
        elif r < 0.08:
            status = "returned"
        else:
            status = "delivered"
        shipped = None
        if status in ("shipped", "delivered", "returned"):
            shipped = day(ordered + datetime.timedelta(days=rnd.randint(1, 5)))
        city, country = (cust[4], cust[5]) if rnd.random() < 0.93 else rnd.choice(CITIES)
        orders.append((oid, cust[0], rnd.choice(sales_reps) if rnd.random() < 0.85 else None,
                       day(ordered), status, shipped, city, country))
        for prod in rnd.sample(products, rnd.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 12, 8])[0]):
            qty = rnd.choices([1, 2, 3, 4, 6, 10], weights=[50, 25, 10, 7, 5, 3])[0]
            discount = rnd.choice([0, 0, 0, 0, 0.05, 0.1, 0.15])
            items.append((oid, prod[0], qty, prod[4], discount))
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", orders)
    db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", items)
    db.commit()
    db.execute("VACUUM")
    db.close()
    return {"categories": len(CATEGORIES), "suppliers": len(suppliers), "products": len(products),
            "customers": len(customers), "employees": len(employees), "orders": len(orders),
            "order_items": len(items)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "shop.sqlite"))
    args = ap.parse_args()
    counts = build(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
