from streams.fingerprint import Fingerprinter, Sketch
from streams.prepare import prepare

TEXT = ("The regional governor said emergency crews had rescued 212 residents by boat from the town of "
        "Kettering Vale, where water reached the first floor of many houses, on Tuesday.")


def fp(title, body, embedder=None):
    return Fingerprinter(embedder=embedder).fingerprint(prepare(title, body))


def test_keys_are_short_deterministic_and_few():
    a, b = fp("Floods hit Valdoria", TEXT), fp("Floods hit Valdoria", TEXT)
    assert a.keys == b.keys and a.sketch == b.sketch
    assert all(1 < len(k) <= 16 for k in a.keys)
    assert 8 <= len(a.keys) <= 24


def test_typography_and_dateline_do_not_change_the_content_hash():
    plain = fp("Floods", TEXT)
    styled = fp("UPDATE 1-Floods | World News",
                "OSTRAVA, March 4 (Reuters) \u2014 " + TEXT.replace("many", "\u200bmany") + "\nShare this article")
    assert plain.content_hash == styled.content_hash
    assert fp("Floods", TEXT + " More.").content_hash != plain.content_hash


def test_sketch_round_trips_the_facts():
    s = Sketch.decode(fp("Gunman kills six in Wisconsin", "").sketch)
    assert s.headline_only
    assert len(s.numbers) == 1 and len(s.names) == 2  # "six" -> 6; Gunman, Wisconsin
    assert s.embedding == b""


def test_with_the_shipped_model_the_sketch_carries_a_small_embedding():
    f = Fingerprinter()
    assert f.embedder is not None, "streams/models/minilm-m2v must ship with the repository"
    s = Sketch.decode(f.fingerprint(prepare("Floods hit Valdoria", TEXT)).sketch)
    assert len(s.embedding) == 32


def test_bare_headline_sketch_has_no_text_minhash_but_keeps_its_weekday():
    s = Sketch.decode(fp("Valdoria stocks close higher Tuesday", "").sketch)
    assert s.headline_only and s.minhash.size == 0 and s.lead.size == 0
    assert s.weekdays == 1 << 1  # monday is bit 0
    raw = fp("Floods hit Valdoria", TEXT).sketch
    full = Sketch.decode(raw)
    assert full.minhash.size == 48 and full.lead.size == 12 and full.weekdays == 0
    # Layout: 4 header bytes, then the text's minhash bytes, then the lead's.
    assert full.minhash.tobytes() == raw[4:52] and full.lead.tobytes() == raw[52:64]


def test_fast_embedding_path_computes_what_model2vec_computes():
    import numpy as np

    f = Fingerprinter()
    texts = ["Floods hit Valdoria. " + TEXT, "Caf\u00e9 owner's 3,400-word review \u2014 \u4e2d\u6587", "", "   "]
    reference = np.asarray(f.embedder.model.encode(texts, show_progress_bar=False), dtype=np.float32)
    fast = f.embedder.encode(texts)
    for ref, got in zip(reference, fast):
        if np.linalg.norm(ref) == 0:
            assert np.linalg.norm(got) == 0
        else:
            assert float(ref @ got) / float(np.linalg.norm(ref)) > 0.9999
    one = [f.fingerprint(prepare(t, TEXT)) for t in ("Floods hit Valdoria", "Menkel rises")]
    assert one == f.fingerprint_many([prepare(t, TEXT) for t in ("Floods hit Valdoria", "Menkel rises")])


def test_hyphenated_names_are_separate_names():
    from streams.fingerprint import extract_facts

    names, _, _ = extract_facts("Marrow-Lund pact signed", "Ilsa Marrow met Ari Lund in Ostrava.")
    assert {"marro", "lund"} <= set(names)


def test_a_headline_is_negated_by_not_never_nt_and_failing_or_refusing_to():
    from streams.fingerprint import negated

    for title in ("PM says she will not resign", "Marrow won't seek second term", "Valdoria never paid its debt",
                  "Rocket fails to reach orbit", "Marrow refuses to quit", "No survivors found after crash"):
        assert negated(title), title
    # "no" as a prefix or a number, and a negated verdict (read as its opposite word instead)
    for title in ("Marrow survives no-confidence vote", "Protest outside No 10", "No. 1 seed knocked out",
                  "Marrow found not guilty of fraud", "Marrow resigns"):
        assert not negated(title), title


def test_the_negation_travels_in_the_sketch():
    f = Fingerprinter(embedder=None)
    assert Sketch.decode(f.fingerprint(prepare("PM will not resign on Monday", "")).sketch).negated
    plain = Sketch.decode(f.fingerprint(prepare("PM will resign on Monday", "")).sketch)
    assert not plain.negated and plain.weekdays == 1   # the weekday bits are unchanged


def test_a_version_2_sketch_is_still_read_as_naming_no_places():
    # Index entries written before places were stored (sketch version 2) stay comparable.
    f = Fingerprinter(embedder=None)
    v3 = f.fingerprint(prepare("Storm kills 5 in Florida", "")).sketch
    assert Sketch.decode(v3).places
    counts_end = 4 + 5   # header (version, flags, shingles), then the five count bytes of version 2
    v2 = bytes([2]) + v3[1:counts_end] + v3[counts_end + 1:-2 * len(Sketch.decode(v3).places) or None]
    old, new = Sketch.decode(v2), Sketch.decode(v3)
    assert old.places == frozenset() and (old.names, old.terms, old.numbers) == (new.names, new.terms, new.numbers)
