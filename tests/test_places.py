from streams.fingerprint import place_hash
from streams.places import ALIASES, PARENT, places_in, within


def test_places_are_found_as_written_longest_name_first():
    assert places_in("North Korea fires missile into Sea of Japan") == ["north_korea", "japan"]
    assert places_in("South Korea and Japan hold talks") == ["south_korea", "japan"]
    assert places_in("India's PM visits U.S. and UK") == ["india", "us", "uk"]


def test_demonyms_capitals_and_hyphenated_pairs_name_their_country():
    assert places_in("Egyptians vote on constitution") == ["egypt"]
    assert places_in("Kremlin says talks with Kyiv stalled") == ["russia", "ukraine"]
    assert places_in("Turkish-Syrian border clash") == ["turkey", "syria"]


def test_only_capitalised_whole_words_are_places():
    assert places_in("Share prices chill as investors turn cautious") == []   # "chill", not "Chile"
    assert places_in("Us and them: a review") == []


def test_a_place_lies_within_its_state_and_country():
    assert within("houston") == ["houston", "us"]
    assert within("london") == ["london", "england", "uk"]
    assert within("japan") == ["japan"]


def test_every_place_has_its_own_hash():
    # Sketches store places as 16-bit hashes: two places sharing one would never clash.
    places = {*ALIASES.values(), *PARENT}
    assert len({place_hash(p) for p in places}) == len(places)
