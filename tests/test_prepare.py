from streams.prepare import clean_title, prepare


def test_strips_page_furniture_and_keeps_the_story():
    body = (
        "LONDON, Jan. 12 (AP) \u2014 The council approved the plan on Monday.\n\n"
        "By Jane Doe, Health reporter\n"
        "Photo: John Smith/Getty Images\n"
        "\u201cIt is a good day,\u201d the mayor said \u2013 and residents agreed.\n"
        "Advertisement\n"
        "Share this article\nFacebook Twitter Email\n"
        "Related stories\nMayor opens new bridge\nBudget talks stall again\n"
        "Follow us on Twitter\n"
        "Copyright 2024 Example Wire. All rights reserved."
    )
    p = prepare("Council approves plan", body)
    assert p.text == ('The council approved the plan on Monday.\n'
                      '"It is a good day," the mayor said - and residents agreed.')


def test_sentences_that_mention_furniture_words_survive():
    body = ("Reuters reported that the company would share its data with regulators next year.\n"
            "By the time the police arrived, the crowd had gone.")
    assert prepare("t", body).text == body


def test_runs_of_short_headlines_without_a_header_are_dropped():
    body = ("The minister resigned on Friday after weeks of pressure over the contract.\n"
            "Council votes on parking\nLocal team wins cup final\nChess prodigy takes title\n"
            "She will stay on as an MP, her office said.")
    assert prepare("t", body).text.splitlines() == [
        "The minister resigned on Friday after weeks of pressure over the contract.",
        "She will stay on as an MP, her office said."]


def test_title_restyling_is_undone():
    assert clean_title("UPDATE 1-Japan narrowly escapes recession | World News") == "Japan narrowly escapes recession"
    assert clean_title("Rouhani leads in Iran vote - preliminary results") == "Rouhani leads in Iran vote - preliminary results"


def test_unicode_is_normalised():
    p = prepare("Caf\u00e9 \ufb01nds", "Price rose to \u00c2\u00a35 \u2014 a record\u2026")
    assert p.title == "Caf\u00e9 finds"
    assert p.text == "Price rose to \u00a35 - a record..."


def test_html_goes_through_the_main_text_extractor():
    html = ("<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>Dam opens</h1>"
            "<p>The new dam on the Menkel river opened on Tuesday after six years of building work.</p>"
            "<p>Engineers said it would protect 40,000 homes from floods in the valley below it.</p>"
            "</article><footer>Copyright 2024 Example</footer></body></html>")
    p = prepare("Dam opens", html=html)
    assert "six years of building work" in p.text
    assert "Home" not in p.text and "Copyright" not in p.text


def test_odd_input_never_raises():
    assert prepare("", None).text == ""
    assert prepare("x", "\x00\ud800 \n\n  ").text in ("", "\x00\ud800")
    assert isinstance(prepare("x", html="<<<not html").text, str)


def test_stacked_wire_labels_leave_the_title():
    assert clean_title("EXCLUSIVE-UPDATE 2-Valdoria rebels signal flexibility in talks") == \
        "Valdoria rebels signal flexibility in talks"
    assert clean_title("Update on the Valdoria talks") == "Update on the Valdoria talks"  # not a label
