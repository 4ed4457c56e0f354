"""Step 4: topic labels (war, crime, recalls, entertainment), several or none, with scores.

Contract:
    clf = TopicClassifier(thresholds={"war": 0.5, ...})   # from Settings.topic_thresholds
    topics, scores = clf.classify(title, text)   # topics: list in TOPICS order; scores: all four, in [0, 1]
    clf.explain(title, text) -> dict             # why each topic scored as it did (JSON-able)
  scores / classify / explain also take an optional `embedding=`: the unit vector (128 floats) of the
  shipped model2vec model for embed_text(title, text), when the caller already computed it (the
  fingerprinter embeds the same headline + lead); otherwise the classifier computes it itself.

How it works (run time needs numpy, and model2vec for the shipped embedding model; artifact
streams/data/classifier/topics.npz):
  1. Word-sense rewriting (token level). Phrases whose key word is used in another sense ("price war",
     "recalls his first audition", "recall election", "shooting a film", "killer performance",
     "Star Wars") become marker tokens (xidiomwar, xrecallmemory, ...), so the bare words "war",
     "recall", "shooting", "killer" only ever carry their news sense. Training applies the same
     rewriting, so the markers get their own learned weights.
  2. Features, all from the headline plus the first BODY_CHARS characters of the text (the lead decides
     the topic; this bounds cost on long articles):
     * the set of tokens, each worth 1/sqrt(number of distinct tokens);
     * 8 dense cue features (hand-written topic lexicon hits in the headline and in the lead);
     * a sentence embedding of the headline + first EMBED_LEAD_WORDS words (streams/models/minilm-m2v,
       a model2vec model distilled from all-MiniLM-L6-v2). It carries what a bag of a few thousand
       training items cannot: that "Kimmel", "Grammy" or "Kharkiv" belong to a topic even when the
       training text never used them. Computed as model2vec does (mean of word-piece vectors), with the
       word pieces of each word cached, so it costs a dict lookup per word and one numpy gather.
  3. One logistic model per topic over all of these (training/train_topics.py), then Platt
     calibration fitted on source-disjoint out-of-fold predictions, so a score is a probability-like number.
  4. The product-recall gate: "recalls" needs a recall word (recall, retira, allergy alert, public
     health alert, ...) and a product or safety cue (vehicle, pounds, undeclared, listeria, FDA, ...)
     somewhere in the text; without both its logit is lowered by RECALL_GATE_PENALTY.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import TOPICS

MODEL_PATH = Path(__file__).parent / "data" / "classifier" / "topics.npz"
BODY_CHARS = 500
# Same text as the fingerprinter's rewrite-tier embedding (streams/fingerprint.py EMBED_LEAD_WORDS), so a
# pipeline that already has that vector can pass it in.
EMBED_LEAD_WORDS = 25
RECALL_GATE_PENALTY = 6.0
# The calibrated default thresholds; Settings.topic_thresholds (NEWSFLOW_THRESHOLD_<TOPIC>) overrides them.
DEFAULT_THRESHOLDS = {t: 0.5 for t in TOPICS}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- Word-sense rules (token level: one pass over the tokens, checks only at trigger words) ---------
# Fixed phrases whose topic word is used in another sense -> one marker token.
SENSE_PHRASES: dict[str, str] = {
    # war, in film/game titles and idioms
    **{p: "xwarfilm" for p in (
        "star wars", "infinity war", "war of the worlds", "war and peace", "war horse", "world war z",
        "all quiet on the western front", "saving private ryan", "apocalypse now", "full metal jacket",
        "hacksaw ridge", "band of brothers", "the hurt locker", "top gun", "game of thrones", "civil war movie",
        "war for the planet of the apes", "call of duty")},
    **{p: "xidiomwar" for p in ("war of words", "wars of words", "war room", "war chest")},
    **{p: "xturfwar" for p in ("turf war", "turf wars", "gang war", "gang wars", "drug war", "drug wars")},
    # crime, in genre words and show titles
    **{p: "xcrimegenre" for p in (
        "law and order", "law order", "criminal minds", "killing eve", "breaking bad", "better call saul",
        "the sopranos", "peaky blinders", "the godfather", "murder she wrote", "only murders in the building",
        "how to get away with murder", "making a murderer", "true crime", "arrested development",
        "natural born killers", "killers of the flower moon", "the killers", "murder mystery")},
    # recall, as memory or in titles
    **{p: "xrecallmemory" for p in ("total recall", "perfect recall", "instant recall", "brand recall",
                                    "immediate recall", "fond recall", "recalled in an interview")},
    # shooting/killer/bomb/steal in film, sport and praise senses
    **{p: "xshootfilm" for p in (
        "photo shoot", "photo shoots", "photoshoot", "film shoot", "video shoot", "fashion shoot", "cover shoot",
        "movie shoot", "shooting star", "shooting stars", "shooting guard", "shot on location", "music video shoot")},
    **{p: "xkillerpraise" for p in ("killed it", "killing it", "murdered it", "lady killer", "ladykiller")},
    **{p: "xbombflop" for p in ("box office bomb", "box office bombs", "box office flop", "bombed at the box office",
                                "bath bomb", "bath bombs", "f bomb", "f bombs", "photobomb", "photobombed",
                                "bombshell", "bombshells")},
    **{p: "xstolenshow" for p in ("stole the show", "steals the show", "steal the show", "stealing the show",
                                  "stole the spotlight", "steals the spotlight", "stole the scene")},
}
_PHRASES_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
# Phrases starting with "the" are keyed by their second word: "the" is in every text and would make
# every article pay for the phrase checks.
_THE_PHRASES_BY_SECOND: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _p, _m in sorted(SENSE_PHRASES.items(), key=lambda pm: -len(pm[0].split())):
    _ws = tuple(_p.split())
    if _ws[0] == "the":
        _THE_PHRASES_BY_SECOND.setdefault(_ws[1], []).append((_ws[1:], _m))
    else:
        _PHRASES_BY_FIRST.setdefault(_ws[0], []).append((_ws, _m))

_WAR = _words("war wars")
_WAR_IDIOM_PREV = _words(
    "price fare trade tariff bidding talent console streaming format flame culture currency pricing browser cola "
    "patent tech rap twitter ratings pay subscription chip cloud shopping sales discount petrol fuel grocery "
    "supermarket mortgage legal cyber bedroom sex pie food snack burger pizza coffee cheese gaming smartphone phone "
    "search retail airline airfare broadband pr media ad advertising")
_WAR_ON_FIGURATIVE = _words(
    "drugs poverty christmas science women fees junk obesity cancer inflation plastic waste woke fun talent cash "
    "noise litter weeds clutter spam robocalls boredom")
_RECALL = _words("recall recalls recalled recalling")
_RECALL_ELECTION_NEXT = _words(
    "election elections vote votes voting petition petitions effort efforts campaign attempt referendum bid drive "
    "race ballot organizers organisers supporters proponents")
_RECALL_ELECTION_PREV = _words(
    "face faces faced facing survive survives survived surviving beat beats won wins lost loses defeat defeated "
    "defeats oppose opposes backed backs")
_RECALL_DIPLOMAT_NEXT = _words("ambassador ambassadors envoy envoys diplomat diplomats")
_RECALL_MEMORY_NEXT = _words(
    "his her their my our your how when what why where who being seeing meeting growing working hearing watching "
    "feeling fondly vividly clearly later once memories memory childhood nothing little much anything something "
    "him me us you that")
_RECALL_MEMORY_TWO = _words("day days moment night time early")   # "recalls the day", "recalled a moment"
_RECALL_SUBJECT = _words(
    "he she they i we you who witnesses residents friends fans neighbors neighbours colleagues survivors veterans "
    "classmates family relatives costars co stars")
_ADVERB = _words("still later vividly fondly also clearly")
_SHOOT = _words("shooting shoot shoots shot filming filmed")
_FILM_OBJ = _words(
    "film movie scene scenes video series season pilot documentary commercial ad photos photo portraits portrait "
    "episode episodes sequel location set footage")
_DETERMINER = _words("a an the his her their its new on")
_KILLER = _words("killer")
_KILLER_PRAISE = _words(
    "performance performances app apps look looks voice vocals heels outfit outfits smile body abs workout deal deals "
    "line lines view views game instinct queen bee bees whale whales dance moves recipe recipes soundtrack song songs "
    "riff riffs style combo feature features cast show")
_CRIME = _words("crime")
_CRIME_GENRE_NEXT = _words(
    "drama dramas thriller thrillers novel novels novelist writer writers fiction series show shows podcast comedy saga "
    "film films movie movies")
_TRIGGERS = frozenset(_PHRASES_BY_FIRST) | frozenset(_THE_PHRASES_BY_SECOND) | _WAR | _RECALL | _SHOOT | _KILLER | _CRIME | _WAR_IDIOM_PREV


def _apply_senses(toks: list[str]) -> list[str]:
    """Replace other-sense uses of topic words by marker tokens (see SENSE_PHRASES and the sets above).

    Only the positions of trigger words are visited (one comprehension finds them); the rest is copied
    in slices, so the cost is small on texts with few triggers."""
    hits = [i for i, t in enumerate(toks) if t in _TRIGGERS]
    if not hits:
        return toks
    out: list[str] = []
    i, n = 0, len(toks)
    for h in hits:
        if h < i:   # inside a phrase already replaced
            continue
        out.extend(toks[i:h])
        i = h
        t = toks[i]
        matched = False
        for phrase, marker in _PHRASES_BY_FIRST.get(t, ()):
            k = len(phrase)
            if tuple(toks[i:i + k]) == phrase:
                out.append(marker)
                i += k
                matched = True
                break
        if not matched and out and out[-1] == "the":   # "the" was copied just before this token
            for tail, marker in _THE_PHRASES_BY_SECOND.get(t, ()):
                k = len(tail)
                if tuple(toks[i:i + k]) == tail:
                    out[-1] = marker
                    i += k
                    matched = True
                    break
        if matched:
            continue
        nxt = toks[i + 1] if i + 1 < n else ""
        prev = toks[i - 1] if i else ""
        marker = None
        if t in _WAR_IDIOM_PREV and nxt in _WAR:
            out.append(t)
            out.append("xidiomwar")
            i += 2
            continue
        if t in _WAR:
            nxt2 = toks[i + 2] if i + 2 < n else ""
            if nxt == "on" and nxt2 in _WAR_ON_FIGURATIVE:
                marker = "xidiomwar"
        elif t in _RECALL:
            after = toks[i + 2] if nxt in _DETERMINER and i + 2 < n else nxt
            before = toks[i - 2] if prev in ("a", "the") and i >= 2 else prev
            if nxt in _RECALL_ELECTION_NEXT or before in _RECALL_ELECTION_PREV:
                marker = "xrecallelection"
            elif after in _RECALL_DIPLOMAT_NEXT:
                marker = "xrecalldiplomat"
            elif (nxt in _RECALL_MEMORY_NEXT or (nxt in ("the", "a") and after in _RECALL_MEMORY_TWO)
                  or prev in _RECALL_SUBJECT or (prev in _ADVERB and i >= 2 and toks[i - 2] in _RECALL_SUBJECT)
                  or prev == "as"):
                marker = "xrecallmemory"
        elif t in _SHOOT:
            after = toks[i + 2] if nxt in _DETERMINER and i + 2 < n else nxt
            if after in _FILM_OBJ:
                marker = "xshootfilm"
        elif t in _KILLER:
            if nxt in _KILLER_PRAISE:
                marker = "xkillerpraise"
        elif t in _CRIME:
            if nxt in _CRIME_GENRE_NEXT:
                marker = "xcrimegenre"
        out.append(marker or t)
        i += 1
    out.extend(toks[i:])
    return out


# --- Topic cue lexicons: general, hand-written evidence (not fitted to any data set) ----------------
# Their hit counts in the headline and in the lead are dense features next to the bag of words, so the
# evidence does not fade on long articles the way an L2-normalised bag does. Two-word cues are written
# with a space.
CUE_LEXICONS: dict[str, str] = {
    "war": (
        "war wars wartime warring invasion invade invaded invades invading troops soldier soldiers serviceman "
        "servicemen military militaries army armies forces shelling shelled shells airstrike airstrikes air_strike "
        "air_strikes air_raid air_raids missile missiles rocket rockets drone drones artillery bombing bombings "
        "bombardment bombarded bombed bomb bombs offensive counteroffensive front_line front_lines frontline ceasefire "
        "truce armistice occupied occupation occupier occupiers militants militant rebels rebel insurgents combat "
        "battle battles battlefield siege besieged hostage hostages refugee refugees war_crimes nato kremlin pentagon "
        "defence_ministry defense_ministry general_staff mobilisation mobilization conscripts tanks warplanes "
        "warplane fighter_jets navy naval air_defence air_defense casualties annexation annexed ukraine ukrainian "
        "ukrainians kyiv kiev zelensky zelenskiy zelenskyy aggression invaders invader azovstal bucha irpin putin "
        "donbas donetsk luhansk kharkiv kherson zaporizhzhia mariupol crimea gaza hamas hezbollah houthi houthis idf "
        "jihadists guerrillas peacekeepers paratroopers brigade brigades battalion battalions ammunition weapons "
        "humanitarian_corridor evacuated evacuation liberated genocide sanctions armed_forces"),
    "crime": (
        "police policeman officer officers cop cops arrest arrested arrests arresting charged charges suspect "
        "suspects murder murders murdered murderer murdering homicide homicides manslaughter shooting shootings "
        "shot_dead gunman gunmen gunfire stabbing stabbed stabbings robbery robberies robbed burglar burglars "
        "burglary burglaries theft thefts thief thieves stolen stole steal stealing fraud fraudulent fraudster scam "
        "scams scammer scammers convicted conviction convictions sentenced sentencing guilty jury trial prosecutor "
        "prosecutors prosecution prosecuted indicted indictment judge prison prisons jail jailed inmate inmates "
        "custody detective detectives fbi assault assaulted rape raped rapist sexual_abuse abuse abused kidnapping "
        "kidnapped kidnapper abducted abduction trafficking trafficked smuggling smuggled smuggler cartel cartels gang "
        "gangs dui dwi drunk_driving hit_and felony felon misdemeanor bail parole crime crimes criminal criminals "
        "victim victims heist heists extortion bribery bribe bribes embezzlement embezzled laundering death_penalty "
        "death_row life_sentence killer killers killing fugitive manhunt accused allegedly alleged sheriff deputies "
        "investigators forensic autopsy vandalism arson arsonist carjacking hate_crime firearm firearms gun guns "
        "molested molestation plead pleads pleaded plea"),
    "recalls": (
        "recall recalls recalled recalling retira retiran allergy_alert health_alert undeclared allergen allergens "
        "listeria salmonella coli botulism contaminated contamination contaminants adulterated adulteration "
        "misbranded misbranding fsis fda usda nhtsa cpsc consumer_product refund refunds defect defects defective "
        "hazard hazards lots pounds lbs"),
    "entertainment": (
        "film films movie movies cinema cinemas actor actors actress actresses star stars starring starred costar "
        "celebrity celebrities celeb celebs singer singers songwriter rapper rappers musician musicians band bands "
        "album albums song songs music musical concert concerts tour touring gig gigs chart charts billboard grammy "
        "grammys oscar oscars academy_awards emmy emmys golden_globes golden_globe bafta baftas tony_awards box_office "
        "hollywood bollywood netflix hbo disney hulu sitcom sitcoms series episode episodes season tv television "
        "late_night talk_show comedian comedians comedy comedies stand_up director directors filmmaker filmmakers "
        "premiere premieres premiered trailer trailers sequel sequels franchise cast casting role roles theatre "
        "theater theatres broadway west_end pop rock hip_hop reality red_carpet documentary documentaries drama "
        "dramas soap dj record_label showbiz entertainment entertainer host hosts hosted festival nominations "
        "nominated nominee nominees award awards screenplay studio studios blockbuster animated anime superhero "
        "marvel pixar spotify youtube tiktok paparazzi tabloid memoir novel author single singles lyrics dancer "
        "dancing ballet opera orchestra comic kardashian kardashians royals xwarfilm xcrimegenre xshootfilm "
        "xkillerpraise xbombflop xstolenshow"),
}
_CUE_SLOT = {t: k for k, t in enumerate(CUE_LEXICONS)}
_CUE_UNI: dict[str, int] = {}
_CUE_BI: dict[str, int] = {}
for _t, _ws in CUE_LEXICONS.items():
    for _w in _ws.split():
        (_CUE_BI if "_" in _w else _CUE_UNI)[_w.replace("_", " ")] = _CUE_SLOT[_t]
CUE_FEATURES = tuple(f"cue:{where}:{t}" for where in ("title", "lead") for t in CUE_LEXICONS)

# --- The product-recall gate ---------------------------------------------------------------------
_RECALL_WORD_UNI = _words("recall recalls recalled recalling retira retiran retiro retirada")
_RECALL_WORD_BI = frozenset(
    ("allergy alert", "health alert", "safety alert", "not drive", "not eat", "from shelves", "stop sale",
     "stop using", "withdrawn from"))
_PRODUCT_CUE_UNI = _words(
    "vehicle vehicles car cars suv suvs truck trucks pickup pickups van vans motorcycle motorcycles sedan sedans "
    "minivan minivans buses model models automaker automakers carmaker carmakers airbag airbags inflator inflators "
    "brake brakes seatbelt seatbelts belt belts steering engine engines tire tires tyre tyres nhtsa dealer dealers "
    "unit units product products pound pounds lb lbs ounce ounces oz package packages can cans jar jars bottle "
    "bottles bag bags boxes lot lots batch batches label labels labeling labelling fda usda fsis cpsc consumer "
    "consumers customer customers refund refunds retailer retailers store stores shelves allergen allergens allergy "
    "allergic undeclared listeria salmonella coli botulism clostridium contaminated contamination contaminant "
    "contaminants adulterated adulteration misbranded misbranding inspection metal plastic bone fragments food foods "
    "meat beef pork chicken poultry sausage sausages cheese milk egg eggs flour salad salads snack snacks candy "
    "chocolate formula drug drugs pill pills tablet tablets capsule capsules medicine medicines medication "
    "medications supplement supplements drops device devices pump pumps toy toys crib cribs stroller strollers seat "
    "seats helmet helmets heater heaters charger chargers batteries appliance appliances dresser dressers bike bikes "
    "scooter scooters hazard hazards burn burns injury injuries injured defect defects defective faulty manufacturer "
    "producto productos alimentos carne inspección contaminación")
_PRODUCT_CUE_BI = frozenset(("highway traffic", "consumer product", "foreign matter", "foreign material",
                             "car seat", "car seats", "fire risk", "seat belt", "seat belts", "air bag", "air bags"))

_RECALL_WORD_PAIRS = frozenset(tuple(b.split()) for b in _RECALL_WORD_BI)
_PRODUCT_CUE_PAIRS = frozenset(tuple(b.split()) for b in _PRODUCT_CUE_BI)
_CUE_PAIRS = {tuple(b.split()): k for b, k in _CUE_BI.items()}
_PAIR_FIRSTS = frozenset(p[0] for p in (*_CUE_PAIRS, *_RECALL_WORD_PAIRS, *_PRODUCT_CUE_PAIRS))
_PAIR_SECONDS = frozenset(p[1] for p in (*_CUE_PAIRS, *_RECALL_WORD_PAIRS, *_PRODUCT_CUE_PAIRS))

_MARKERS = frozenset(SENSE_PHRASES.values()) | _words(
    "xidiomwar xrecallelection xrecalldiplomat xrecallmemory xshootfilm xkillerpraise xcrimegenre")
_TOKEN_RE = re.compile(r"\w+")
_APOS_RE = re.compile(r"'s\b")
_DIGITS_RE = re.compile(r"\d")


# For ASCII text, the same tokens as _TOKEN_RE.findall after _DIGITS_RE.sub (in ASCII, \w is exactly
# letters, digits and "_"): one bytes.translate that folds digits to "0" and everything else to a
# space, then split, at a third of the cost.
_ASCII_TOKEN_TABLE = bytes(
    ord("0") if chr(b).isdigit() else b if (chr(b).isalnum() or chr(b) == "_") else ord(" ")
    for b in range(128)) + bytes(range(128, 256))


def _tokens(part: str) -> list[str]:
    text = _APOS_RE.sub("", part.lower().replace("’", "'"))
    if text.isascii():
        return _apply_senses(text.encode().translate(_ASCII_TOKEN_TABLE).decode().split())
    return _apply_senses(_TOKEN_RE.findall(_DIGITS_RE.sub("0", text)))


def _parts(title: str, text: str) -> tuple[list[str], list[str]]:
    return _tokens(title or ""), _tokens((text or "")[:BODY_CHARS])


def _pairs(toks: list[str], unigrams: set[str]) -> set[tuple[str, str]]:
    """Adjacent token pairs, built only when a two-word cue could start here (most texts: never)."""
    if _PAIR_FIRSTS.isdisjoint(unigrams) or _PAIR_SECONDS.isdisjoint(unigrams):
        return set()
    # Only pairs that can be a cue (their first word starts one): a fifth of the cost of all pairs.
    firsts = _PAIR_FIRSTS
    return {(a, b) for a, b in zip(toks, toks[1:]) if a in firsts}


def _gate(unigrams: set[str], pairs: set[tuple[str, str]]) -> dict:
    word = (_RECALL_WORD_UNI & unigrams) or {" ".join(p) for p in _RECALL_WORD_PAIRS & pairs}
    cue = (_PRODUCT_CUE_UNI & unigrams) or {" ".join(p) for p in _PRODUCT_CUE_PAIRS & pairs}
    return {"open": bool(word and cue), "recall_word": min(word) if word else None,
            "product_cue": min(cue) if cue else None}


_LOG31 = math.log1p(30.0)


def _cue_vector(ttoks: list[str], ltoks: list[str], pairs: set[tuple[str, str]]) -> np.ndarray:
    """Cue lexicon hits: every cue word occurrence, and each distinct cue bigram once; headline and lead
    apart. Headline hits saturate at 3; lead hits grow logarithmically up to 30."""
    n = len(CUE_LEXICONS)
    counts = [0.0] * (2 * n)
    get = _CUE_UNI.get
    for k in map(get, ttoks):
        if k is not None:
            counts[k] += 1
    for k in map(get, ltoks):
        if k is not None:
            counts[n + k] += 1
    hits = _CUE_PAIRS.keys() & pairs
    if hits:
        title_pairs = set(zip(ttoks, ttoks[1:]))
        for p in hits:
            counts[(0 if p in title_pairs else n) + _CUE_PAIRS[p]] += 1
    return np.array([min(c, 3.0) / 3.0 for c in counts[:n]]
                    + [math.log1p(min(c, 30.0)) / _LOG31 for c in counts[n:]])


def analyse(title: str, text: str) -> tuple[list[str], np.ndarray, dict]:
    """The features: unique tokens (after the sense rewriting), cue vector, recall gate.

    Shared by training (training/train_topics.py) and run time (TopicClassifier._evaluate). Bag bigrams
    were dropped in v2: with the embedding they no longer helped (source-disjoint CV) and cost a third
    of the run time."""
    ttoks, ltoks = _parts(title, text)
    toks = ttoks + ltoks
    unigrams = set(toks)
    pairs = _pairs(toks, unigrams)
    return sorted(unigrams), _cue_vector(ttoks, ltoks, pairs), _gate(unigrams, pairs)


def features(title: str, text: str) -> list[str]:
    """The unique token features of an article (after the word-sense rewriting)."""
    return analyse(title, text)[0]


def recall_gate(title: str, text: str) -> dict:
    """Whether the text has both a recall word and a product/safety cue (news sense of 'recall')."""
    return analyse(title, text)[2]


def embed_text(title: str, text: str) -> str:
    """The text the embedding reads: headline + first EMBED_LEAD_WORDS words (as the fingerprinter)."""
    return (title or "") + ". " + " ".join((text or "").split(maxsplit=EMBED_LEAD_WORDS)[:EMBED_LEAD_WORDS])


# --- Fast sentence embedding with the shipped model2vec model -------------------------------------
# model2vec's encode is the mean of the word-piece vectors of the text. The BERT tokenizer splits on
# whitespace and punctuation before word-piecing, so the pieces of a text are the pieces of its words:
# caching them per word turns encoding into dict lookups and one gather (encode() pays ~100 us per call
# for the tokenizer; this ~15 us). Unit vectors agree with StaticModel.encode to cosine > 0.999.
_PIECE_RE = re.compile(r"\w+|[^\w\s]")
_WORD_CACHE_LIMIT = 200_000


class FastEmbedder:
    def __init__(self, model) -> None:   # a model2vec StaticModel
        self.tokenizer = model.tokenizer
        self.unk = model.unk_token_id
        self.vectors = np.asarray(model.embedding, dtype=np.float32)
        self.dims = self.vectors.shape[1]
        self._cache: dict[str, list[int]] = {}

    def _pieces(self, word: str) -> list[int]:
        ids = [i for i in self.tokenizer.encode(word, add_special_tokens=False).ids if i != self.unk]
        if len(self._cache) >= _WORD_CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> np.ndarray:
        """Unit vector (float32); zeros for a text without tokens."""
        get, ids = self._cache.get, []
        for w in _PIECE_RE.findall(text.lower()):
            p = get(w)
            ids.extend(self._pieces(w) if p is None else p)
        if not ids:
            return np.zeros(self.dims, dtype=np.float32)
        v = self.vectors[np.fromiter(ids, np.intp, len(ids))].sum(axis=0)
        norm = float(np.sqrt(v @ v))
        return v / norm if norm else v


@lru_cache(maxsize=1)
def default_fast_embedder() -> FastEmbedder | None:
    from .embed import default_embedder

    e = default_embedder()
    return FastEmbedder(e.model) if e is not None else None


# --- The model --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Model:
    vocab: list[str]           # feature tokens
    row: dict[str, int]
    weights: np.ndarray        # (len(vocab), n_topics), bag-of-words weights
    cue_weights: np.ndarray    # (len(CUE_FEATURES), n_topics)
    embed_weights: np.ndarray  # (embedding dims, n_topics)
    bias: np.ndarray           # (n_topics,)
    platt_a: np.ndarray        # calibrated logit = a * linear logit + b
    platt_b: np.ndarray
    # The same model with the calibration folded in (z = a * linear logit + b), so run time adds three
    # terms: weights_z rows, embed_z, cue_z rows, on top of bias_z.
    weights_z: np.ndarray
    cue_z: np.ndarray
    embed_z: np.ndarray        # float32, as the embedding
    bias_z: np.ndarray


@lru_cache(maxsize=4)
def _load(path: str) -> _Model:
    with np.load(path, allow_pickle=False) as z:
        vocab = [str(v) for v in z["vocab"]]
        topics = tuple(str(t) for t in z["topics"])
        cues = tuple(str(c) for c in z["cue_features"])
        if topics != TOPICS or cues != CUE_FEATURES:
            raise ValueError(f"classifier model {path} does not match this code (topics {topics}, cues {cues}); "
                             "retrain with training/train_topics.py")
        weights, cue_w, embed_w, bias, platt = (
            z[k].astype(np.float64) for k in ("weights", "cue_weights", "embed_weights", "bias", "platt"))
    a, b = platt[:, 0].copy(), platt[:, 1].copy()
    return _Model(vocab, {f: i for i, f in enumerate(vocab)}, weights, cue_w, embed_w, bias, a, b,
                  weights * a, cue_w * a, (embed_w * a).astype(np.float32), bias * a + b)


@dataclass
class _Evaluation:
    probs: np.ndarray
    z: np.ndarray              # calibrated logits before the recall gate
    rows: list[int]            # rows of the known bag features
    value: float               # what each bag feature is worth
    cues: np.ndarray
    embedding: np.ndarray | None
    gate: dict
    tokens: list[str]


class TopicClassifier:
    def __init__(self, thresholds: dict[str, float] | None = None, model_path: str | Path = MODEL_PATH,
                 embedder: FastEmbedder | None | str = "default") -> None:
        self.thresholds = DEFAULT_THRESHOLDS | (thresholds or {})
        self._m = _load(str(model_path))
        self._recall_col = TOPICS.index("recalls")
        # Without the embedding model the embedding term is left out (a weaker but working classifier).
        self.embedder = default_fast_embedder() if embedder == "default" else embedder

    def _evaluate(self, title: str, text: str, embedding=None) -> _Evaluation:
        m = self._m
        ttoks, ltoks = _parts(title, text)
        toks = ttoks + ltoks
        unigrams = set(toks)
        pairs = _pairs(toks, unigrams)
        rows = [r for r in map(m.row.get, unigrams) if r is not None]
        value = 1.0 / math.sqrt(len(unigrams)) if unigrams else 0.0
        cues = _cue_vector(ttoks, ltoks, pairs)
        z = m.bias_z
        if rows:
            z = z + m.weights_z[np.fromiter(rows, np.intp, len(rows))].sum(axis=0) * value
        z = z + cues @ m.cue_z
        if embedding is None and self.embedder is not None:
            embedding = self.embedder.encode(embed_text(title, text))
        if embedding is not None:
            embedding = np.asarray(embedding, dtype=np.float32)[: len(m.embed_z)]
            z = z + embedding @ m.embed_z
        gate = _gate(unigrams, pairs)
        zs = z.tolist()
        if not gate["open"]:
            zs[self._recall_col] -= RECALL_GATE_PENALTY
        probs = np.array([1.0 / (1.0 + math.exp(-min(30.0, max(-30.0, x)))) for x in zs])
        return _Evaluation(probs, z, rows, value, cues, embedding, gate, toks)

    def scores(self, title: str, text: str, embedding=None) -> dict[str, float]:
        probs = self._evaluate(title, text, embedding).probs
        return {t: round(float(p), 4) for t, p in zip(TOPICS, probs)}

    def classify(self, title: str, text: str, embedding=None) -> tuple[list[str], dict[str, float]]:
        scores = self.scores(title, text, embedding)
        return [t for t in TOPICS if scores[t] >= self.thresholds[t]], scores

    def explain(self, title: str, text: str, embedding=None, top: int = 8) -> dict:
        """Per topic: score, decision, and the features that pushed it up or down (weight = logit change).
        The embedding counts as one feature ("embedding": its whole contribution)."""
        ev = self._evaluate(title, text, embedding)
        m = self._m
        logits = (np.asarray(ev.z, dtype=np.float64) - m.platt_b) / m.platt_a   # before calibration
        evidence = {}
        for k, topic in enumerate(TOPICS):
            contrib = [(m.vocab[i], float(m.weights[i, k] * ev.value)) for i in ev.rows]
            contrib += [(name, float(ev.cues[j] * m.cue_weights[j, k])) for j, name in enumerate(CUE_FEATURES)
                        if ev.cues[j]]
            if ev.embedding is not None:
                contrib.append(("embedding", float(ev.embedding.astype(np.float64) @ m.embed_weights[:, k])))
            contrib.sort(key=lambda fc: -abs(fc[1]))
            evidence[topic] = {
                "score": round(float(ev.probs[k]), 4),
                "topic": bool(ev.probs[k] >= self.thresholds[topic]),
                "bias": round(float(m.bias[k]), 4),
                "linear_logit": round(float(logits[k]), 4),
                "calibration": {"a": round(float(m.platt_a[k]), 4), "b": round(float(m.platt_b[k]), 4)},
                "for": [{"feature": f, "weight": round(c, 4)} for f, c in contrib if c > 0][:top],
                "against": [{"feature": f, "weight": round(c, 4)} for f, c in contrib if c < 0][:top],
            }
        evidence["recalls"]["gate"] = ev.gate | {"penalty": 0.0 if ev.gate["open"] else RECALL_GATE_PENALTY}
        return {"scores": {t: evidence[t]["score"] for t in TOPICS}, "thresholds": dict(self.thresholds),
                "sense_rules_fired": sorted({t for t in ev.tokens if t in _MARKERS}),
                "features_known": len(ev.rows),
                "embedding_used": ev.embedding is not None, "evidence": evidence}
