import json
from pathlib import Path

import pytest
import xxhash

from streams.dedup import DedupIndex, combine
from streams.fingerprint import Fingerprinter
from streams.prepare import prepare
from streams.state import DictStore

ARTICLES = {a["id"]: a for a in map(json.loads, (Path(__file__).parent / "data" / "dedup_articles.jsonl").open())}


@pytest.fixture(scope="module")
def fps():
    f = Fingerprinter()
    return {i: f.fingerprint(prepare(a["title"], a["body"])) for i, a in ARTICLES.items()}


def feed(fps, ids, index=None, start=0.0):
    index = index or DedupIndex(DictStore())
    return index, {i: combine(i, [index.probe(i, fps[i], start + n)]) for n, i in enumerate(ids)}


def test_exact_copy_with_other_typography_dateline_and_widgets(fps):
    _, out = feed(fps, ["flood-orig", "flood-copy"])
    assert (out["flood-copy"].duplicate_of, out["flood-copy"].duplicate_kind) == ("flood-orig", "exact")
    assert out["flood-copy"].cluster_id == out["flood-orig"].cluster_id


def test_lead_only_teaser_matches_its_original(fps):
    _, out = feed(fps, ["flood-orig", "flood-teaser"])
    assert (out["flood-teaser"].duplicate_of, out["flood-teaser"].duplicate_kind) == ("flood-orig", "near")


def test_spun_rewrite_matches(fps):
    _, out = feed(fps, ["flood-orig", "flood-spun"])
    assert (out["flood-spun"].duplicate_of, out["flood-spun"].duplicate_kind) == ("flood-orig", "rewrite")


def test_same_kind_of_event_elsewhere_does_not_match(fps):
    _, out = feed(fps, ["flood-orig", "flood-copy", "flood-spun", "flood-other-event"])
    assert out["flood-other-event"].duplicate_of is None


def test_shared_sidebar_does_not_link_unrelated_articles(fps):
    _, out = feed(fps, ["bakery", "chess"])
    assert out["chess"].duplicate_of is None


def test_copy_of_a_copy_points_at_the_original(fps):
    index, out = feed(fps, ["flood-orig", "flood-teaser"])
    # The trimmed copy shares more with the teaser's group than anything: its root is still the original.
    _, out = feed(fps, ["flood-copy-of-copy"], index, start=10)
    assert out["flood-copy-of-copy"].duplicate_of == "flood-orig"


def test_redelivery_is_idempotent(fps):
    index, first = feed(fps, ["flood-orig", "flood-copy"])
    before = index.stats()
    again = combine("flood-copy", [index.probe("flood-copy", fps["flood-copy"], 99.0)])
    assert again == first["flood-copy"]
    assert combine("flood-orig", [index.probe("flood-orig", fps["flood-orig"], 99.0)]).duplicate_of is None
    assert index.stats() == before


def test_window_expiry(fps):
    index = DedupIndex(DictStore(), window_s=100.0)
    index.probe("flood-orig", fps["flood-orig"], 0.0)
    assert index.probe("flood-copy", fps["flood-copy"], 150.0) is None  # reads ignore expired entries
    assert index.expire(now=251.0) == 2
    assert (index.stats().articles, index.stats().entries, index.stats().bytes) == (0, 0, 0)


def route(key: bytes, n: int) -> int:
    return xxhash.xxh3_64_intdigest(key) % n


def test_partitioned_index_agrees_with_a_single_store(fps):
    order = list(ARTICLES)
    _, single = feed(fps, order)
    parts = [DedupIndex(DictStore()) for _ in range(4)]
    for n, i in enumerate(order):
        routed = {}
        for key in fps[i].keys:
            routed.setdefault(route(key, 4), []).append(key)
        result = combine(i, [parts[p].probe(i, fps[i], float(n), keys=ks) for p, ks in routed.items()])
        assert result.duplicate_of == single[i].duplicate_of, i
        assert result.cluster_id == single[i].cluster_id


def test_state_stays_under_one_kilobyte_per_article_at_four_partitions(fps):
    parts = [DedupIndex(DictStore()) for _ in range(4)]
    for n, i in enumerate(ARTICLES):
        routed = {}
        for key in fps[i].keys:
            routed.setdefault(route(key, 4), []).append(key)
        for p, ks in routed.items():
            parts[p].probe(i, fps[i], float(n), keys=ks)
    total = sum(ix.stats().bytes for ix in parts)
    assert total / len(ARTICLES) < 1024
    assert sum(ix.stats().articles for ix in parts) <= 4 * len(ARTICLES)  # one record per store, not per key


# -- bare headlines (the rewrite tier's headline score) ---------------------------------------------

def headlines(*titles, fingerprinter=None):
    f = fingerprinter or Fingerprinter()
    return {t: f.fingerprint(prepare(t, "")) for t in titles}


def link(fps, order, index=None):
    index = index or DedupIndex(DictStore())
    return {t: combine(t, [index.probe(t, fps[t], float(n))]).duplicate_of for n, t in enumerate(order)}


@pytest.mark.parametrize("first,second", [
    ("Floods force 3,400 from homes in Valdoria", "3,400 forced from their homes as floods hit Valdoria"),
    ("Ilsa Marrow re-elected as Valdoria president for second term", "Valdoria's Marrow wins second term as president"),
    ("Valdoria minister Ilsa Marrow acquitted of fraud", "Valdoria minister Ilsa Marrow found not guilty of fraud"),
    # negated on both sides, in different words
    ("Valdoria's Marrow will not seek second term", "Marrow won't seek second term as Valdoria president"),
    ("Valdoria PM Marrow says she will not resign", "Valdoria PM Marrow refuses to resign"),
    ("Valdoria's Marrow survives no-confidence vote", "Marrow survives no-confidence vote in Valdoria parliament"),
    # a place and the country it lies in, or the country's adjective
    ("Bomb blast in Mumbai kills five", "Bomb blast kills five in India's Mumbai"),
    ("Protesters clash with police in Ankara", "Turkish police clash with protesters in Turkey's capital"),
])
def test_paraphrased_headline_matches(first, second):
    fps = headlines(first, second)
    assert link(fps, [first, second])[second] == first


@pytest.mark.parametrize("first,second", [
    ("Gunmen kill 12 in Valdoria market attack", "Gunmen kill 30 in Valdoria market attack"),  # numbers
    ("Valdoria stocks close higher Tuesday", "Valdoria stocks close higher Thursday"),  # weekday
    ("Valdoria shares open lower", "Valdoria shares close lower"),  # opposite words
    # a negated verdict is the opposite verdict: the plea hearing and the plea deal are two reports
    ("Valdoria minister Ilsa Marrow pleads not guilty to fraud", "Valdoria minister Ilsa Marrow pleads guilty to fraud"),
    # opposite actions in the same template
    ("Valdoria central bank raises interest rates", "Valdoria central bank cuts interest rates"),
    ("Valdoria confirms Marrow will attend summit", "Valdoria denies Marrow will attend summit"),
    ("Valdoria senate passes budget bill", "Valdoria senate rejects budget bill"),
    ("Valdoria court upholds ban on street protests", "Valdoria court overturns ban on street protests"),
    ("Valdoria president Marrow signs budget bill", "Valdoria president Marrow vetoes budget bill"),
    ("Marrow corruption trial resumes in Valdoria", "Marrow corruption trial adjourned in Valdoria"),
    # one side negated
    ("Valdoria prime minister Ilsa Marrow says she will resign", "Valdoria prime minister Ilsa Marrow says she will not resign"),
    ("Valdoria launches weather satellite", "Valdoria fails to launch weather satellite"),
    # two places: two earthquakes, two escapes
    ("Magnitude 6.1 earthquake strikes off Japan coast", "Magnitude 6.1 earthquake strikes off Chile coast"),
    ("Two prisoners escape from jail in Texas", "Two prisoners escape from jail in Ohio"),
])
def test_same_template_with_different_facts_does_not_match(first, second):
    fps = headlines(first, second)
    assert link(fps, [first, second])[second] is None


class PlanarEmbedder:
    """Headline -> a chosen unit vector, so a test fixes every cosine (the real model would not)."""

    def __init__(self, angles):
        self.angles = angles

    def encode(self, texts):
        import numpy as np

        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            angle = self.angles[text.split(".")[0]]
            out[row, :2] = np.cos(angle), np.sin(angle)
        return out


A = "Menkel floods Valdoria farms"
B = A + " downstream"  # its term pairs include "downstream", which A's do not
C = B + " overnight"


def test_a_paraphrase_of_a_member_must_also_match_the_group_root():
    # cos(A, B) = cos(B, C) = 0.80 but cos(A, C) = 0.28: C resembles B, not the story B joined.
    f = Fingerprinter(embedder=PlanarEmbedder({A: 0.0, B: 0.6435, C: 1.287}))
    out = link(headlines(A, B, C, fingerprinter=f), [A, B, C])
    assert out[B] == A
    assert out[C] is None


def test_a_paraphrase_of_the_whole_group_joins_it():
    f = Fingerprinter(embedder=PlanarEmbedder({A: 0.0, B: 0.3, C: 0.5}))
    out = link(headlines(A, B, C, fingerprinter=f), [A, B, C])
    assert out[B] == A and out[C] == A


def test_root_check_holds_in_a_store_without_the_other_members_as_candidates():
    # Only B's record is reachable through C's keys; the root's record still vetoes the link.
    f = Fingerprinter(embedder=PlanarEmbedder({A: 0.0, B: 0.6435, C: 1.287}))
    fps = headlines(A, B, C, fingerprinter=f)
    index = DedupIndex(DictStore())
    link(fps, [A, B], index)
    only_b = [k for k in fps[C].keys if k in set(fps[B].keys) - set(fps[A].keys)]
    assert only_b and index.probe(C, fps[C], 5.0, keys=only_b) is None


def test_a_record_in_an_older_sketch_format_is_skipped_not_fatal(fps):
    index = DedupIndex(DictStore())
    index.probe("flood-orig", fps["flood-orig"], 0.0)
    for key, value in list(index.store.items()):
        if key[:1] == b"\x00":  # the record: make its sketch claim format version 1
            at = value.index(fps["flood-orig"].sketch)
            index.store.put(key, value[:at] + b"\x01" + value[at + 1:])
    assert index.probe("flood-spun", fps["flood-spun"], 1.0) is None
    assert combine("flood-copy", [index.probe("flood-copy", fps["flood-copy"], 2.0)]).duplicate_of == "flood-orig"


def test_two_same_kind_earthquakes_are_never_linked():
    # samples/articles.jsonl: samples 014 and 015 share a template, not their facts.
    samples = {a["id"]: a for a in map(json.loads, (Path(__file__).parent.parent / "samples" / "articles.jsonl")
                                       .read_text().splitlines()) if "id" in a}
    fingerprinter = Fingerprinter()
    index = DedupIndex(DictStore())
    quake_a, quake_b = (fingerprinter.fingerprint(prepare(samples[i]["title"], samples[i]["body"]))
                        for i in ("sample-014", "sample-015"))
    assert index.probe("sample-014", quake_a, 3.0) is None
    assert index.probe("sample-015", quake_b, 4.0) is None


def test_a_sweep_in_slices_drops_old_articles_and_keeps_one_indexed_meanwhile():
    samples = [a for a in map(json.loads, (Path(__file__).parent.parent / "samples" / "articles.jsonl")
                              .read_text().splitlines()) if "id" in a]
    fingerprinter = Fingerprinter()
    store = DictStore()
    index = DedupIndex(store, window_s=100.0)
    prints = {a["id"]: fingerprinter.fingerprint(prepare(a["title"], a["body"])) for a in samples}
    old, young = samples[:6], samples[6:10]
    for i, a in enumerate(old):
        index.probe(a["id"], prints[a["id"]], seen_at=float(i))
    entries = sorted(store.items())
    half = len(entries) // 2
    now = 1000.0
    dropped = index.sweep(now, entries[:half])
    for a in young:  # indexed between two slices of one sweep
        index.probe(a["id"], prints[a["id"]], seen_at=now)
    dropped += index.sweep(now, [(k, v) for k, v in entries[half:] if store.get(k) is not None])
    assert dropped == len(old)
    # Nothing of the old articles is left; the young ones are all still found by their copies.
    assert index.stats().articles == len(young)
    for a in young:
        match = index.probe(a["id"] + "-copy", prints[a["id"]], seen_at=now + 1)
        assert match is not None and match.kind == "exact"
        assert match.root_id in {y["id"] for y in young}


def test_minhash_agreement_counted_on_integers_equals_counting_values():
    # _jaccard_bits counts agreeing one-byte minhash values with integer operations; it must give
    # what comparing the values one by one gives, for every number of agreeing values.
    import numpy as np

    from streams.dedup import _corrected, _jaccard_bits

    rng = np.random.default_rng(0)
    for n in (48, 12):
        for changed in range(n + 1):
            a = rng.integers(0, 256, n, dtype=np.uint8)
            b = a.copy()
            at = rng.choice(n, changed, replace=False)
            b[at] = (a[at].astype(int) + rng.integers(1, 256, changed)) % 256   # really different
            expected = _corrected(float(np.count_nonzero(a == b)) / n)
            got = _jaccard_bits(int.from_bytes(a.tobytes(), "little"), int.from_bytes(b.tobytes(), "little"), n)
            assert got == expected and np.count_nonzero(a != b) == changed


MARKET_CLOSE = (
    "Stocks in Valdoria closed {direction} on {day} as investors weighed company earnings and new economic data. "
    "The Valdoria 40 index {moved} {points} points, or {pct} percent, to {level}. Trading volume on the Ostrava exchange "
    "was {volume} million shares, compared with the {average} million average of the last 20 trading days. Energy "
    "shares led the moves, while technology stocks were mixed. Bond yields {yields} and the crown was little changed "
    "against the euro. Analysts said markets would watch the central bank's next policy meeting closely.")


@pytest.mark.parametrize("second_title,second_fill", [
    ("Valdoria stocks close higher on Tuesday", dict(day="Tuesday", points="85", pct="0.2", level="4,295")),
    ("Valdoria stocks close lower", dict(direction="lower", moved="fell", yields="fell", points="210", level="4,085")),
])
def test_a_template_filled_in_again_is_another_report_not_a_copy(second_title, second_fill):
    # The daily market close reuses almost every sentence: near-tier resemblance alone would link
    # Monday's report with Tuesday's, and a rise with a fall.
    first_fill = dict(direction="higher", day="Monday", moved="rose", points="120", pct="0.4", level="4,210",
                      volume="310", average="290", yields="rose")
    f = Fingerprinter()
    first = f.fingerprint(prepare("Valdoria stocks close higher on Monday", MARKET_CLOSE.format(**first_fill)))
    second = f.fingerprint(prepare(second_title, MARKET_CLOSE.format(**(first_fill | second_fill))))
    index = DedupIndex(DictStore())
    index.probe("monday", first, 0.0)
    assert index.probe("second", second, 1.0) is None


STUB = ("This is a developing story and will be updated as more information becomes available from the "
        "authorities in the region.")


def test_one_stub_under_two_stories_is_not_a_copy():
    # Outlets publish placeholder and paywall bodies under many headlines: the same words, two stories.
    f = Fingerprinter()
    index = DedupIndex(DictStore())
    index.probe("quake", f.fingerprint(prepare("Earthquake strikes northern Valdoria", STUB)), 0.0)
    assert index.probe("derail", f.fingerprint(prepare("Train derails near Ostrava", STUB)), 1.0) is None
    again = index.probe("quake-again", f.fingerprint(prepare("Strong earthquake strikes Valdoria", STUB)), 2.0)
    assert again is not None and again.root_id == "quake"


def test_the_same_people_at_another_event_are_not_a_rewrite():
    # Same minister, same city, same boilerplate phrasing, days apart: the figures differ.
    lead = ("Prime Minister Ilsa Marrow on {day} opened a new {what} in Ostrava, promising shorter {wait} across the "
            "region. Minister Ari Lund, who joined Marrow for the visit, said the {size} cost {cost} million crowns and "
            "would serve {served} people a year. \"This is a day for every family in Ostrava,\" Marrow said. The "
            "opposition Valdorian Labour party said the government had cut budgets elsewhere to pay for the project. "
            "Marrow, who faces an election in the spring, has made public services the centre of her campaign.")
    f = Fingerprinter()
    hospital = f.fingerprint(prepare("Marrow opens new hospital wing in Ostrava", lead.format(
        day="Monday", what="hospital wing", wait="waiting lists", size="40-bed wing", cost="85", served="6,000")))
    school = f.fingerprint(prepare("Marrow opens new school in Ostrava", lead.format(
        day="Thursday", what="secondary school", wait="classes", size="900-pupil school", cost="40", served="1,200")))
    index = DedupIndex(DictStore())
    index.probe("hospital", hospital, 0.0)
    assert index.probe("school", school, 1.0) is None
