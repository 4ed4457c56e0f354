#!/usr/bin/env python3
"""Same-template headlines of different stories: how many does the dedup core link?

    .venv/bin/python tools/template_pairs.py [--show]

News repeats its templates: "Earthquake strikes off Japan coast" and "... off Chile coast",
"Fed raises rates" and "Fed cuts rates", "PM will resign" and "PM will not resign". Each pair below is
two different stories in one template, written for this project (no data set has enough of them),
grouped by what tells them apart. The tool feeds each pair, as two bare headlines, through the dedup
core (one DedupIndex, as batch mode does) and counts the pairs it links. Every link is a merge of two
stories. Prints one JSON object: linked pairs per group and in all (`--show` lists the linked pairs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.dedup import DedupIndex  # noqa: E402
from streams.fingerprint import Fingerprinter  # noqa: E402
from streams.prepare import prepare  # noqa: E402
from streams.state import DictStore  # noqa: E402

PAIRS: dict[str, list[tuple[str, str]]] = {
    "place": [
        ("Magnitude 6.1 earthquake strikes off Japan coast", "Magnitude 6.1 earthquake strikes off Chile coast"),
        ("Strong earthquake hits northern Japan", "Strong earthquake hits northern Chile"),
        ("Two prisoners escape from jail in Texas", "Two prisoners escape from jail in Ohio"),
        ("Storm kills 5 in Florida", "Storm kills 5 in Texas"),
        ("Gunmen kill 12 in Nigeria", "Gunmen kill 12 in Pakistan"),
        ("Flood death toll rises to 40 in India", "Flood death toll rises to 40 in Bangladesh"),
        ("Bus crash kills 20 in Peru", "Bus crash kills 20 in Bolivia"),
        ("Obama to visit Japan next month", "Obama to visit China next month"),
        ("Plane crashes in Russia, killing all on board", "Plane crashes in Iran, killing all on board"),
        ("Ebola outbreak spreads to Mali", "Ebola outbreak spreads to Senegal"),
        ("Heavy snow disrupts flights in London", "Heavy snow disrupts flights in Chicago"),
        ("Pope Francis visits Brazil", "Pope Francis visits Philippines"),
        ("Fire at factory kills 8 in Bangladesh", "Fire at factory kills 8 in China"),
    ],
    "opposite action": [
        ("Fed raises interest rates by a quarter point", "Fed cuts interest rates by a quarter point"),
        ("Bank of England raises rates", "Bank of England cuts rates"),
        ("ECB hikes rates to fight inflation", "ECB cuts rates to fight inflation"),
        ("Kremlin confirms Putin will attend summit", "Kremlin denies Putin will attend summit"),
        ("Apple beats earnings forecasts", "Apple misses earnings forecasts"),
        ("Oil prices rise on supply fears", "Oil prices fall on supply fears"),
        ("Senate passes healthcare bill", "Senate rejects healthcare bill"),
        ("Company X buys stake in Company Y", "Company X sells stake in Company Y"),
        ("Ronaldo joins Juventus", "Ronaldo leaves Juventus"),
        ("Police arrest suspect in Paris shooting", "Police release suspect in Paris shooting"),
        ("US imposes sanctions on Iran", "US lifts sanctions on Iran"),
        ("Dollar strengthens against euro", "Dollar weakens against euro"),
        ("Unemployment rate rises to 5 percent", "Unemployment rate falls to 5 percent"),
        ("Israel agrees to ceasefire", "Israel rejects ceasefire"),
        ("Hamas accepts truce proposal", "Hamas rejects truce proposal"),
        ("Court upholds ban on same-sex marriage", "Court overturns ban on same-sex marriage"),
        ("Smith wins Democratic primary in Ohio", "Smith loses Democratic primary in Ohio"),
        ("Exports increase in March", "Exports decrease in March"),
        ("Microsoft to hire 1,000 workers", "Microsoft to cut 1,000 workers"),
        ("Stocks open higher on Wall Street", "Stocks open lower on Wall Street"),
        ("President Obama signs budget bill", "President Obama vetoes budget bill"),
        ("Oscar Pistorius trial resumes", "Oscar Pistorius trial adjourned"),
        ("Former Enron chief Jeff Skilling pleads guilty to fraud", "Former Enron chief Jeff Skilling pleads not guilty to fraud"),
    ],
    "negation": [
        ("Prime minister says he will resign", "Prime minister says he will not resign"),
        ("North Korea launches missile", "North Korea fails to launch missile"),
    ],
    "day": [
        ("Stocks close higher on Monday", "Stocks close higher on Tuesday"),
    ],
    "who": [
        ("Veteran actor John Hartley dies aged 80", "Veteran actor Bill Jones dies aged 80"),
        ("Manchester United beat Liverpool 2-1", "Chelsea beat Liverpool 2-1"),
        ("Apple unveils new iPhone", "Samsung unveils new Galaxy phone"),
        ("Google shares fall after earnings report", "Amazon shares fall after earnings report"),
        ("Ford recalls 100,000 cars over brake fault", "Toyota recalls 100,000 cars over brake fault"),
        ("Hurricane Sandy hits New York", "Hurricane Irene hits New York"),
        ("Madonna announces world tour", "Beyonce announces world tour"),
        ("Tesla recalls Model S", "Tesla recalls Model X"),
    ],
    "who did what to whom": [
        ("Manchester United beat Liverpool 2-1", "Liverpool beat Manchester United 2-1"),
    ],
    "numbers": [
        ("Gunmen kill 12 in Nigeria church attack", "Gunmen kill 21 in Nigeria church attack"),
    ],
}


def linked(fingerprinter: Fingerprinter, first: str, second: str) -> bool:
    index = DedupIndex(DictStore())
    index.probe("first", fingerprinter.fingerprint(prepare(first, "")), 0.0)
    return index.probe("second", fingerprinter.fingerprint(prepare(second, "")), 1.0) is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show", action="store_true", help="list the pairs that are linked")
    args = ap.parse_args()
    fingerprinter = Fingerprinter()
    report: dict = {"groups": {}}
    shown = []
    for group, pairs in PAIRS.items():
        hits = [pair for pair in pairs if linked(fingerprinter, *pair)]
        report["groups"][group] = {"pairs": len(pairs), "linked": len(hits)}
        shown += [{"group": group, "pair": list(pair)} for pair in hits]
    report["pairs"] = sum(g["pairs"] for g in report["groups"].values())
    report["linked"] = sum(g["linked"] for g in report["groups"].values())
    if args.show:
        report["linked_pairs"] = shown
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
