"""A synthetic SNDS-like table for the privacy tests: patients with NIR-shaped identifiers
(sex, birth year and month, département, commune, order number, control key), birth dates,
postcodes consistent with the département, and care events (ICD-10 codes, dates, costs).
Deterministic for a seed; the ground truth (who is who) stays in the test."""
import csv
import io
import random

DEPARTEMENTS = ["01", "13", "2A", "2B", "33", "59", "69", "75", "93", "971", "974", "976"]
ICD10 = ["E11.9", "I10", "J45.0", "C50.9", "F32.1", "K21.0", "M54.5", "N18.3", "G43.9", "Z00.0"]
NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]


def postcode(rng, dept):
    if dept == "2A":
        return "20%03d" % rng.randrange(0, 200)
    if dept == "2B":
        return "20%03d" % rng.randrange(200, 700)
    if len(dept) == 3:
        return dept + "%02d" % rng.randrange(0, 100)
    return dept + "%03d" % rng.randrange(0, 1000)


def nir(rng, sex, birth, dept):
    """15 characters: sex, YY, MM, département (2A/2B kept as letters), commune, order, key."""
    d = dept if len(dept) == 2 else dept[:2]
    commune = "%03d" % rng.randrange(1, 990) if len(dept) == 2 else "%d%02d" % (int(dept[2]), rng.randrange(1, 99))
    body = f"{sex}{birth[2:4]}{birth[5:7]}{d}{commune}{rng.randrange(1, 999):03d}"
    numeric = int(body.replace("2A", "19").replace("2B", "18"))
    return body + "%02d" % (97 - numeric % 97)


def spaced(rng, ident):
    """The identifier as a clerk might type it (the view normalises it back)."""
    if rng.random() < 0.3:
        return " ".join([ident[0], ident[1:3], ident[3:5], ident[5:7], ident[7:10], ident[10:13], ident[13:]])
    return ident


def patients(n, seed=1):
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        sex = rng.choice("12")
        birth = "%04d-%02d-%02d" % (rng.randrange(1930, 2006), rng.randrange(1, 13), rng.randrange(1, 29))
        dept = rng.choice(DEPARTEMENTS)
        ident = nir(rng, sex, birth, dept)
        if ident in seen:
            continue
        seen.add(ident)
        out.append({"nir": ident, "sex": sex, "birth_date": birth, "postcode": postcode(rng, dept),
                    "name": rng.choice(NAMES)})
    return out


def events(people, rows, seed=2):
    """`rows` care events of `people`, as CSV text (header first)."""
    rng = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["nir", "name", "sex", "birth_date", "postcode", "icd10", "care_date", "cost", "note"])
    for _ in range(rows):
        p = rng.choice(people)
        care = "%04d-%02d-%02d" % (rng.randrange(2015, 2025), rng.randrange(1, 13), rng.randrange(1, 29))
        note = rng.choice(["", "suivi", "urgence, nuit", 'dit "ok"', "ligne1\nligne2"])
        w.writerow([spaced(rng, p["nir"]), p["name"], p["sex"], p["birth_date"], p["postcode"], rng.choice(ICD10), care,
                    "%.2f" % (rng.random() * 500), note])
    return buf.getvalue().encode()
