#!/usr/bin/env python3
"""make_clinic_db.py — builds bench/everyday/databases/clinic/clinic.sqlite,
the database of the third everyday test set (bench/everyday/clinic.jsonl): a
small medical practice (departments, doctors, patients, appointments,
prescriptions) with declared foreign keys and a few hundred rows. It was
written after the training data of the bundled model, and no training script
reads it. Appointments run from March 2024 to the snapshot date 2025-02-28
and beyond it (scheduled ones); a cancelled appointment has no fee, and a
scheduled one has no fee yet. Standard library only; a fixed seed makes every
run write the same rows (and, with the same SQLite, the same bytes).

    python3 bench/everyday/make_clinic_db.py [--out PATH]
"""
import argparse
import datetime
import os
import random
import sqlite3

SEED = 20250228
SNAPSHOT = datetime.date(2025, 2, 28)

SCHEMA = """
CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    floor         INTEGER NOT NULL
);
CREATE TABLE doctors (
    doctor_id     INTEGER PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    specialty     TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments(department_id),
    hired_year    INTEGER NOT NULL
);
CREATE TABLE patients (
    patient_id  INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    city        TEXT NOT NULL,
    insurance   TEXT
);
CREATE TABLE appointments (
    appointment_id   INTEGER PRIMARY KEY,
    patient_id       INTEGER NOT NULL REFERENCES patients(patient_id),
    doctor_id        INTEGER NOT NULL REFERENCES doctors(doctor_id),
    appointment_date TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('completed', 'cancelled', 'scheduled')),
    fee              REAL
);
CREATE TABLE prescriptions (
    prescription_id INTEGER PRIMARY KEY,
    appointment_id  INTEGER NOT NULL REFERENCES appointments(appointment_id),
    medication      TEXT NOT NULL,
    dosage_mg       INTEGER NOT NULL,
    days            INTEGER NOT NULL
);
CREATE INDEX appointments_patient ON appointments(patient_id);
CREATE INDEX appointments_doctor ON appointments(doctor_id);
CREATE INDEX prescriptions_appointment ON prescriptions(appointment_id);
"""

DEPARTMENTS = [('Cardiology', 3), ('Pediatrics', 1), ('Dermatology', 2), ('General Medicine', 1),
               ('Orthopedics', 2), ('Neurology', 4)]
SPECIALTIES = {'Cardiology': ['cardiologist'], 'Pediatrics': ['pediatrician'],
               'Dermatology': ['dermatologist'], 'General Medicine': ['general practitioner'],
               'Orthopedics': ['orthopedic surgeon', 'physiotherapist'], 'Neurology': ['neurologist']}
FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Elena', 'Felix', 'Grace', 'Hugo', 'Irene', 'Jonas', 'Karin',
         'Lukas', 'Maria', 'Nils', 'Olivia', 'Paul', 'Rosa', 'Simon', 'Tara', 'Victor', 'Wendy', 'Yusuf',
         'Zoe', 'Marco', 'Lena', 'Omar', 'Sofia', 'Theo', 'Ines', 'Jakob']
LAST = ['Berger', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Hansen', 'Ivanova', 'Jensen',
        'Keller', 'Larsen', 'Moreau', 'Novak', 'Olsen', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Torres',
        'Varga', 'Weber', 'Young', 'Meyer', 'Lambert']
CITIES = ['Geneva', 'Lausanne', 'Zurich', 'Basel', 'Bern', 'Lugano']
INSURERS = ['Helvetia', 'Sanitas', 'Swica', 'Visana', None]
MEDICATIONS = [('Ibuprofen', [200, 400, 600]), ('Amoxicillin', [250, 500]), ('Metformin', [500, 850]),
               ('Atorvastatin', [10, 20, 40]), ('Lisinopril', [5, 10, 20]), ('Paracetamol', [500, 1000]),
               ('Cetirizine', [10]), ('Omeprazole', [20, 40]), ('Prednisone', [5, 20])]


def build(path):
    rng = random.Random(SEED)
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    for i, (name, floor) in enumerate(DEPARTMENTS, 1):
        db.execute('INSERT INTO departments VALUES (?, ?, ?)', (i, name, floor))
    doctors = []
    used = set()
    for i in range(1, 19):
        dep = 1 + (i - 1) % len(DEPARTMENTS) if i <= 12 else rng.randint(1, len(DEPARTMENTS))
        while True:
            fn, ln = rng.choice(FIRST), rng.choice(LAST)
            if (fn, ln) not in used:
                used.add((fn, ln))
                break
        spec = rng.choice(SPECIALTIES[DEPARTMENTS[dep - 1][0]])
        hired = 1995 + i + rng.randint(0, 8)
        doctors.append(i)
        db.execute('INSERT INTO doctors VALUES (?, ?, ?, ?, ?, ?)', (i, fn, ln, spec, dep, hired))
    patients = []
    for i in range(1, 91):
        while True:
            fn, ln = rng.choice(FIRST), rng.choice(LAST)
            if (fn, ln) not in used:
                used.add((fn, ln))
                break
        born = datetime.date(1938, 1, 1) + datetime.timedelta(days=rng.randint(0, 365 * 84))
        city = rng.choice(CITIES[:3] * 3 + CITIES[3:])
        ins = rng.choice(INSURERS)
        patients.append(i)
        db.execute('INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?)', (i, fn, ln, born.isoformat(), city, ins))
    # appointments: busy doctors and frequent patients by weight; 9 patients never came
    never = set(rng.sample(patients, 9))
    visiting = [p for p in patients if p not in never]
    pweights = [rng.choice([1, 1, 2, 3, 6]) for _ in visiting]
    dweights = [rng.choice([1, 2, 3, 5]) for _ in doctors]
    start = datetime.date(2024, 3, 1)
    appts = []
    for i in range(1, 341):
        day = start + datetime.timedelta(days=rng.randint(0, 425))
        p = rng.choices(visiting, pweights)[0]
        d = rng.choices(doctors, dweights)[0]
        if day > SNAPSHOT:
            status, fee = 'scheduled', None
        elif rng.random() < 0.12:
            status, fee = 'cancelled', None
        else:
            status, fee = 'completed', float(rng.choice([80, 95, 120, 150, 180, 220, 260]))
        appts.append((i, status))
        db.execute('INSERT INTO appointments VALUES (?, ?, ?, ?, ?, ?)', (i, p, d, day.isoformat(), status, fee))
    n = 0
    for a, status in appts:
        if status != 'completed' or rng.random() < 0.45:
            continue
        for _ in range(rng.choice([1, 1, 1, 2])):
            n += 1
            med, doses = rng.choice(MEDICATIONS)
            db.execute('INSERT INTO prescriptions VALUES (?, ?, ?, ?, ?)',
                       (n, a, med, rng.choice(doses), rng.choice([3, 5, 7, 10, 14, 30, 90])))
    db.commit()
    db.execute('VACUUM')
    db.close()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(here, 'databases', 'clinic', 'clinic.sqlite'))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    build(args.out)
    print(args.out)


if __name__ == '__main__':
    main()
