"""A fictional world generated from facts: the data of ``assay/MultiHopQA-v0`` and ``assay/Almanac-v0``.

Countries, cities, rivers, people and companies with invented names, linked by facts (a person
is born in a city, works for a company; a company has a founder and a headquarters city; a city
lies in a country on a river; a country has a capital and a currency). Each entity gets one
document that states its facts in prose; each question follows two to four links, so its answer
is verifiable from the facts and needs several searches. Every name token is unique in the world,
so a search for a name finds its document.

It also has minerals (density, hardness, year of discovery, where found): the table of
``assay/Almanac-v0``. ``python -m assay.envs.tools.world`` rewrites ``world_corpus.jsonl``, ``world_questions.jsonl``
and ``minerals.json`` (beside this module); a test checks the shipped files equal a
fresh generation.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CORPUS_FILE",
    "DATA_DIR",
    "MINERALS_FILE",
    "QUESTIONS_FILE",
    "SEED",
    "World",
    "build_world",
    "corpus_rows",
    "question_rows",
    "write",
]

SEED = 6
DATA_DIR = Path(__file__).resolve().parent
"""Where the shipped files live: beside this module, so the package-data patterns ship them."""
CORPUS_FILE = "world_corpus.jsonl"
QUESTIONS_FILE = "world_questions.jsonl"
MINERALS_FILE = "minerals.json"

_ONSETS = ("b", "d", "dr", "f", "g", "k", "l", "m", "n", "p", "qu", "r", "s", "sk", "t", "th", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou")
_CODAS = ("", "", "l", "n", "r", "s", "th", "x", "m", "nd")
_PROFESSIONS = (
    "chemist",
    "engineer",
    "architect",
    "cartographer",
    "violinist",
    "botanist",
    "surgeon",
    "astronomer",
    "glassblower",
    "historian",
)
_INDUSTRIES = (
    "shipbuilding",
    "textile",
    "optics",
    "printing",
    "brewing",
    "clockmaking",
    "mining",
    "ceramics",
)
_SUFFIXES = ("Works", "Industries", "Foundry", "Mills", "Instruments", "Company", "Guild", "Brothers")


@dataclass(frozen=True)
class World:
    """The facts. Every dict maps an entity's name to its attributes."""

    countries: dict[str, dict[str, Any]]
    cities: dict[str, dict[str, Any]]
    rivers: list[str]
    people: dict[str, dict[str, Any]]
    companies: dict[str, dict[str, Any]]
    minerals: list[dict[str, Any]]


class _Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def word(self) -> str:
        while True:
            parts = [
                self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(self.rng.choice((2, 2, 3)))
            ]
            w = ("".join(parts) + self.rng.choice(_CODAS)).capitalize()
            if w not in self.used and 4 <= len(w) <= 11:
                self.used.add(w)
                return w


def build_world(
    seed: int = SEED,
    *,
    n_countries: int = 8,
    n_cities: int = 28,
    n_people: int = 64,
    n_companies: int = 28,
    n_minerals: int = 30,
) -> World:
    """The world for ``seed`` (deterministic: `random.Random` with a fixed seed, no global state)."""
    rng = random.Random(seed)
    names = _Names(rng)
    rivers = [names.word() for _ in range(10)]
    country_names = [names.word() for _ in range(n_countries)]
    city_names = [names.word() for _ in range(n_cities)]
    cities: dict[str, dict[str, Any]] = {}
    for i, city in enumerate(city_names):
        country = country_names[i % n_countries]  # every country gets cities
        cities[city] = {
            "country": country,
            "river": rng.choice(rivers),
            "founded": rng.randint(900, 1850),
            "population": rng.randint(8, 900) * 1000,
        }
    countries: dict[str, dict[str, Any]] = {}
    for country in country_names:
        own = [c for c in city_names if cities[c]["country"] == country]
        countries[country] = {"capital": rng.choice(own), "currency": names.word().lower()}
    people: dict[str, dict[str, Any]] = {}
    for _ in range(n_people):
        person = f"{names.word()} {names.word()}"
        people[person] = {
            "born_in": rng.choice(city_names),
            "born": rng.randint(1820, 1990),
            "profession": rng.choice(_PROFESSIONS),
            "lives_in": rng.choice(city_names),
        }
    person_names = list(people)
    founders = rng.sample(person_names, n_companies)
    companies: dict[str, dict[str, Any]] = {}
    for founder in founders:
        name = f"{names.word()} {rng.choice(_SUFFIXES)}"
        companies[name] = {
            "founder": founder,
            "headquarters": rng.choice(city_names),
            "founded": max(people[founder]["born"] + rng.randint(20, 45), 1850),
            "industry": rng.choice(_INDUSTRIES),
            "staff": rng.randint(2, 400) * 10,
        }
    company_names = list(companies)
    for person in person_names:
        people[person]["employer"] = rng.choice(company_names)
    minerals = [
        {
            "mineral": names.word() + "ite",
            "density_g_cm3": f"{rng.randint(150, 999) / 100:.2f}",
            "hardness_mohs": f"{rng.randint(10, 95) / 10:.1f}",
            "discovered": rng.randint(1700, 1990),
            "found_in": rng.choice(city_names),
        }
        for _ in range(n_minerals)
    ]
    return World(countries, cities, rivers, people, companies, minerals)


def corpus_rows(world: World) -> list[dict[str, str]]:
    """One document per entity: ``{"id", "title", "text"}``."""
    rows = []
    for name, p in world.people.items():
        first = name.split()[0]
        article = "an" if p["profession"][0] in "aeiou" else "a"
        text = (
            f"{name} is {article} {p['profession']} born in {p['born_in']} in {p['born']}. "
            f"{first} works for {p['employer']} and lives in {p['lives_in']}."
        )
        rows.append({"id": f"person/{name}", "title": name, "text": text})
    for name, c in world.companies.items():
        text = (
            f"{name} is a {c['industry']} company founded in {c['founded']} by {c['founder']}. "
            f"Its headquarters are in {c['headquarters']}, and it employs about {c['staff']} people."
        )
        rows.append({"id": f"company/{name}", "title": name, "text": text})
    for name, c in world.cities.items():
        text = (
            f"{name} is a city in {c['country']} on the river {c['river']}. It was founded in "
            f"{c['founded']} and has about {c['population']} inhabitants."
        )
        rows.append({"id": f"city/{name}", "title": name, "text": text})
    for name, k in world.countries.items():
        text = f"{name} is a country whose capital is {k['capital']}. Its currency is the {k['currency']}."
        rows.append({"id": f"country/{name}", "title": name, "text": text})
    for river in world.rivers:
        along = sorted(c for c, v in world.cities.items() if v["river"] == river)
        text = f"The {river} is a river. " + (
            f"Cities on its banks: {', '.join(along)}." if along else "No city lies on it."
        )
        rows.append({"id": f"river/{river}", "title": river, "text": text})
    return rows


_TEMPLATES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...], str], ...] = (
    # (name, question about {}, the kind of {}, the hops: (field, kind of its value), answer field)
    (
        "founder_birth_country",
        "In which country was the founder of {} born?",
        "company",
        (("founder", "person"), ("born_in", "city")),
        "country",
    ),
    (
        "headquarters_currency",
        "What is the currency of the country where {} has its headquarters?",
        "company",
        (("headquarters", "city"), ("country", "country")),
        "currency",
    ),
    (
        "birthplace_river",
        "On which river lies the city where {} was born?",
        "person",
        (("born_in", "city"),),
        "river",
    ),
    (
        "employer_city_founded",
        "In what year was the city founded where the employer of {} has its headquarters?",
        "person",
        (("employer", "company"), ("headquarters", "city")),
        "founded",
    ),
    (
        "employer_founder",
        "Who founded the company that {} works for?",
        "person",
        (("employer", "company"),),
        "founder",
    ),
    (
        "founder_birth_capital",
        "What is the capital of the country where the founder of {} was born?",
        "company",
        (("founder", "person"), ("born_in", "city"), ("country", "country")),
        "capital",
    ),
)
"""Each question walks from an entity through the corpus, one document per hop, to its answer."""


def _questions(world: World, rng: random.Random, per_template: int) -> list[dict[str, Any]]:
    tables = {
        "person": world.people,
        "company": world.companies,
        "city": world.cities,
        "country": world.countries,
    }
    out: list[dict[str, Any]] = []
    for template, question, kind, links, answer_field in _TEMPLATES:
        for start in rng.sample(sorted(tables[kind]), per_template):
            hops = [(kind, start)]
            for field, next_kind in links:
                hops.append((next_kind, tables[hops[-1][0]][hops[-1][1]][field]))
            last_kind, last = hops[-1]
            out.append(
                {
                    "template": template,
                    "question": question.format(start),
                    "answer": str(tables[last_kind][last][answer_field]),
                    "queries": [name for _, name in hops],
                    "docs": [f"{k}/{name}" for k, name in hops],
                }
            )
    return out


def question_rows(world: World, seed: int = SEED, per_template: int = 20) -> list[dict[str, Any]]:
    """Questions with ``answer``, the gold search ``queries`` and the ``docs`` they must find."""
    rows = _questions(world, random.Random(seed + 1), per_template)
    return [{"id": f"world/{i}", **row} for i, row in enumerate(rows)]


def write(directory: Path = DATA_DIR) -> None:
    """Regenerate the shipped corpus and question files."""
    world = build_world()
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in ((CORPUS_FILE, corpus_rows(world)), (QUESTIONS_FILE, question_rows(world))):
        with (directory / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (directory / MINERALS_FILE).write_text(json.dumps(world.minerals, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
