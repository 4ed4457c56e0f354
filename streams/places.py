"""Place names for the rewrite tier's place check: which place a headline names, and what it is part of.

Two same-template headlines about two places are two stories ("Earthquake strikes off Japan coast" /
"Earthquake strikes off Chile coast"), however alike their words. streams.fingerprint stores each
place a headline names as one canonical name ("Egyptians", "Egypt" and "Cairo" are all "egypt"
for the check), and streams.dedup vetoes a rewrite link when each side names a place that the
other side neither names nor lies within: "Texas" / "Ohio" clash, "Mumbai" / "India" do not.

Written for this project from general knowledge: countries with their demonyms and capitals
(a capital stands for its country in news, "Moscow says ..."), US states, the UK's nations and
some large cities. A place that is not listed is simply not checked, so the list errs towards
fewer vetoes, never more. A few names are also people's (Paris, Washington, Jordan) and stay: in
headlines they name the place far more often, and words that are mostly not places (Nice, Sofia,
Kingston, Holland, Georgia) are left out.
"""
from __future__ import annotations

import re

# canonical: aliases (single words or phrases, as written in headlines; matched case-sensitively).
# A capital city is an alias of its country: in headlines it is the country's government.
_COUNTRIES = """
afghanistan: Afghanistan Afghan Afghans Kabul
albania: Albania Albanian Albanians Tirana
algeria: Algeria Algerian Algerians Algiers
argentina: Argentina Argentine Argentinian Argentinians Argentines
armenia: Armenia Armenian Armenians Yerevan
australia: Australia Australian Australians Aussie Canberra
austria: Austria Austrian Austrians Vienna
azerbaijan: Azerbaijan Azerbaijani Azeri Baku
bahrain: Bahrain Bahraini Manama
bangladesh: Bangladesh Bangladeshi Bangladeshis Dhaka
belarus: Belarus Belarusian Belarusians Minsk
belgium: Belgium Belgian Belgians
bolivia: Bolivia Bolivian Bolivians
bosnia: Bosnia Bosnian Bosnians Sarajevo
brazil: Brazil Brazilian Brazilians Brasilia
bulgaria: Bulgaria Bulgarian Bulgarians
burma: Burma Myanmar Burmese Yangon Naypyidaw
cambodia: Cambodia Cambodian Cambodians Phnom_Penh
cameroon: Cameroon Cameroonian
canada: Canada Canadian Canadians Ottawa
chile: Chile Chilean Chileans Santiago
china: China Chinese Beijing
colombia: Colombia Colombian Colombians Bogota
congo: Congo Congolese Kinshasa
croatia: Croatia Croatian Croatians Zagreb
cuba: Cuba Cuban Cubans Havana
cyprus: Cyprus Cypriot Cypriots Nicosia
czechia: Czechia Czech Czechs Czech_Republic Prague
denmark: Denmark Danish Danes Copenhagen
ecuador: Ecuador Ecuadorian Ecuadorians Quito
egypt: Egypt Egyptian Egyptians Cairo
estonia: Estonia Estonian Estonians Tallinn
ethiopia: Ethiopia Ethiopian Ethiopians Addis_Ababa
finland: Finland Finnish Finns Helsinki
france: France French Paris
georgia_country: Tbilisi
germany: Germany German Germans Berlin
ghana: Ghana Ghanaian Ghanaians Accra
greece: Greece Greek Greeks Athens
guatemala: Guatemala Guatemalan Guatemalans
haiti: Haiti Haitian Haitians Port-au-Prince
honduras: Honduras Honduran Hondurans
hungary: Hungary Hungarian Hungarians Budapest
iceland: Iceland Icelandic Icelanders Reykjavik
india: India Indian Indians New_Delhi Delhi
indonesia: Indonesia Indonesian Indonesians Jakarta
iran: Iran Iranian Iranians Tehran
iraq: Iraq Iraqi Iraqis Baghdad
ireland: Ireland Irish Dublin
israel: Israel Israeli Israelis Jerusalem
italy: Italy Italian Italians Rome
ivory_coast: Ivory_Coast Ivorian Ivorians
jamaica: Jamaica Jamaican Jamaicans
japan: Japan Japanese Tokyo
jordan: Jordan Jordanian Jordanians Amman
kazakhstan: Kazakhstan Kazakh Kazakhs Astana
kenya: Kenya Kenyan Kenyans Nairobi
kosovo: Kosovo Kosovar Kosovars Pristina
kuwait: Kuwait Kuwaiti Kuwaitis
kyrgyzstan: Kyrgyzstan Kyrgyz Bishkek
laos: Laos Laotian Vientiane
latvia: Latvia Latvian Latvians Riga
lebanon: Lebanon Lebanese Beirut
libya: Libya Libyan Libyans Tripoli
lithuania: Lithuania Lithuanian Lithuanians Vilnius
malaysia: Malaysia Malaysian Malaysians Kuala_Lumpur
mali: Mali Malian Malians Bamako
mexico: Mexico Mexican Mexicans Mexico_City
moldova: Moldova Moldovan Moldovans Chisinau
mongolia: Mongolia Mongolian Mongolians Ulaanbaatar
morocco: Morocco Moroccan Moroccans Rabat
mozambique: Mozambique Mozambican Maputo
nepal: Nepal Nepalese Nepali Kathmandu
netherlands: Netherlands Dutch Amsterdam The_Hague
new_zealand: New_Zealand Wellington
nicaragua: Nicaragua Nicaraguan Nicaraguans Managua
niger: Niger Niamey
nigeria: Nigeria Nigerian Nigerians Abuja
north_korea: North_Korea North_Korean North_Koreans Pyongyang
norway: Norway Norwegian Norwegians Oslo
oman: Oman Omani Muscat
pakistan: Pakistan Pakistani Pakistanis Pak Islamabad
palestine: Palestine Palestinian Palestinians Ramallah
panama: Panama Panamanian
paraguay: Paraguay Paraguayan Asuncion
peru: Peru Peruvian Peruvians Lima
philippines: Philippines Philippine Filipino Filipinos Manila
poland: Poland Polish Poles Warsaw
portugal: Portugal Portuguese Lisbon
qatar: Qatar Qatari Qataris Doha
romania: Romania Romanian Romanians Bucharest
russia: Russia Russian Russians Moscow Kremlin
rwanda: Rwanda Rwandan Rwandans Kigali
saudi_arabia: Saudi_Arabia Saudi Saudis Riyadh
senegal: Senegal Senegalese Dakar
serbia: Serbia Serbian Serbians Serbs Belgrade
singapore: Singapore Singaporean Singaporeans
slovakia: Slovakia Slovak Slovaks Bratislava
slovenia: Slovenia Slovenian Slovenians Ljubljana
somalia: Somalia Somali Somalis Mogadishu
south_africa: South_Africa South_African South_Africans Pretoria Johannesburg Cape_Town
south_korea: South_Korea South_Korean South_Koreans Seoul
south_sudan: South_Sudan South_Sudanese Juba
spain: Spain Spanish Spaniards Madrid
sri_lanka: Sri_Lanka Sri_Lankan Sri_Lankans Colombo
sudan: Sudan Sudanese Khartoum
sweden: Sweden Swedish Swedes Stockholm
switzerland: Switzerland Swiss Bern Geneva Zurich
syria: Syria Syrian Syrians Damascus
taiwan: Taiwan Taiwanese Taipei
tajikistan: Tajikistan Tajik Dushanbe
tanzania: Tanzania Tanzanian Tanzanians Dodoma
thailand: Thailand Thai Thais Bangkok
tunisia: Tunisia Tunisian Tunisians Tunis
turkey: Turkey Turkish Turks Ankara Istanbul
turkmenistan: Turkmenistan Turkmen Ashgabat
uganda: Uganda Ugandan Ugandans Kampala
ukraine: Ukraine Ukrainian Ukrainians Kyiv Kiev
uae: UAE United_Arab_Emirates Emirati Emiratis Abu_Dhabi Dubai
uk: UK U.K. Britain British Britons United_Kingdom
us: US U.S. USA U.S.A. America American Americans United_States Washington
uruguay: Uruguay Uruguayan Uruguayans Montevideo
uzbekistan: Uzbekistan Uzbek Uzbeks Tashkent
venezuela: Venezuela Venezuelan Venezuelans Caracas
vietnam: Vietnam Vietnamese Hanoi
yemen: Yemen Yemeni Yemenis Sanaa
zambia: Zambia Zambian Zambians Lusaka
zimbabwe: Zimbabwe Zimbabwean Zimbabweans Harare
"""

# part of: canonical: aliases. States, nations and large cities that are not capitals.
_PARTS = """
uk england: England English
uk scotland: Scotland Scottish Scots Edinburgh Glasgow
uk wales: Wales Welsh Cardiff
uk northern_ireland: Northern_Ireland Belfast
england london: London
england manchester: Manchester
england birmingham: Birmingham
india mumbai: Mumbai Bombay
india kolkata: Kolkata Calcutta
china shanghai: Shanghai
china hong_kong: Hong_Kong
australia sydney: Sydney
australia melbourne: Melbourne
brazil rio: Rio Rio_de_Janeiro
brazil sao_paulo: Sao_Paulo
pakistan karachi: Karachi
pakistan lahore: Lahore
canada toronto: Toronto
canada montreal: Montreal
canada vancouver: Vancouver
spain barcelona: Barcelona
germany munich: Munich
germany hamburg: Hamburg
italy milan: Milan
italy naples: Naples
italy sicily: Sicily
france marseille: Marseille
russia st_petersburg: St_Petersburg
iraq mosul: Mosul
iraq basra: Basra
syria aleppo: Aleppo
syria homs: Homs
libya benghazi: Benghazi
egypt alexandria: Alexandria
nigeria lagos: Lagos
israel tel_aviv: Tel_Aviv
palestine gaza: Gaza
palestine west_bank: West_Bank
ukraine crimea: Crimea
ukraine donetsk: Donetsk
ukraine kharkiv: Kharkiv
ukraine odesa: Odesa Odessa
japan osaka: Osaka
japan fukushima: Fukushima
japan okinawa: Okinawa
us alabama: Alabama
us alaska: Alaska
us arizona: Arizona
us arkansas: Arkansas
us california: California Californian Californians
us colorado: Colorado
us connecticut: Connecticut
us delaware: Delaware
us florida: Florida
us hawaii: Hawaii Hawaiian
us idaho: Idaho
us illinois: Illinois
us indiana: Indiana
us iowa: Iowa
us kansas: Kansas
us kentucky: Kentucky
us louisiana: Louisiana
us maine: Maine
us maryland: Maryland
us massachusetts: Massachusetts
us michigan: Michigan
us minnesota: Minnesota
us mississippi: Mississippi
us missouri: Missouri
us montana: Montana
us nebraska: Nebraska
us nevada: Nevada
us new_hampshire: New_Hampshire
us new_jersey: New_Jersey
us new_mexico: New_Mexico
us new_york_state: New_York_State
us north_carolina: North_Carolina
us north_dakota: North_Dakota
us ohio: Ohio
us oklahoma: Oklahoma
us oregon: Oregon
us pennsylvania: Pennsylvania
us rhode_island: Rhode_Island
us south_carolina: South_Carolina
us south_dakota: South_Dakota
us tennessee: Tennessee
us texas: Texas Texan Texans
us utah: Utah
us vermont: Vermont
us virginia: Virginia
us west_virginia: West_Virginia
us wisconsin: Wisconsin
us wyoming: Wyoming
us new_york: New_York NYC Manhattan Brooklyn
us los_angeles: Los_Angeles L.A.
us chicago: Chicago
us houston: Houston
us san_francisco: San_Francisco
us boston: Boston
us seattle: Seattle
us miami: Miami
us detroit: Detroit
us atlanta: Atlanta
us dallas: Dallas
us philadelphia: Philadelphia
us new_orleans: New_Orleans NOLA
us las_vegas: Las_Vegas
us puerto_rico: Puerto_Rico Puerto_Rican
"""

PARENT: dict[str, str] = {}   # canonical -> the place it lies within
ALIASES: dict[str, str] = {}  # alias as written ("South Korea", "Egyptians") -> canonical
for _line in _COUNTRIES.strip().splitlines():
    _canonical, _names = _line.split(":")
    for _name in _names.split():
        ALIASES[_name.replace("_", " ")] = _canonical
for _line in _PARTS.strip().splitlines():
    _head, _names = _line.split(":")
    _parent, _canonical = _head.split()
    PARENT[_canonical] = _parent
    for _name in _names.split():
        ALIASES[_name.replace("_", " ")] = _canonical

_WORD = re.compile(r"[A-Za-z][A-Za-z.'-]*")
_LONGEST = max(len(alias.split()) for alias in ALIASES)
# The words an alias can start with: any other capitalised word is passed over with one set lookup.
_FIRST_WORDS = frozenset(alias.split()[0] for alias in ALIASES)


def _bare(word: str) -> str:
    # "Japan's" -> "Japan", "Chile." -> "Chile"; "U.S." stays as written when that is an alias.
    if word in ALIASES:
        return word
    if word.endswith("'s"):
        word = word[:-2]
    return word.rstrip(".'-")


def places_in(text: str) -> list[str]:
    """The canonical places a text names, in order of appearance, each once. Names are matched as
    written (capitalised, whole words, the longest alias first: "South Korea", not "Korea")."""
    words = _WORD.findall(text)
    found: list[str] = []
    i, n_words = 0, len(words)
    while i < n_words:
        word = words[i]
        if not word[0].isupper():
            i += 1
            continue
        first = _bare(word)
        if first not in _FIRST_WORDS:
            if "-" in word:   # "Turkish-Syrian border"
                for part in word.split("-"):
                    place = ALIASES.get(_bare(part)) if part else None
                    if place is not None and place not in found:
                        found.append(place)
            i += 1
            continue
        for n in range(min(_LONGEST, n_words - i), 0, -1):
            phrase = first if n == 1 else " ".join([word, *words[i + 1:i + n - 1], _bare(words[i + n - 1])])
            place = ALIASES.get(phrase)
            if place is not None:
                if place not in found:
                    found.append(place)
                i += n
                break
        else:
            i += 1
    return found


def within(place: str) -> list[str]:
    """The place and every place it lies within: "houston" -> ["houston", "us"]."""
    chain = [place]
    while chain[-1] in PARENT:
        chain.append(PARENT[chain[-1]])
    return chain


__all__ = ["ALIASES", "PARENT", "places_in", "within"]
