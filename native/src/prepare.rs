//! Twin of the text path of streams/prepare.py: `clean_title` and `clean_body` (and the
//! `normalise` they share). The html path (trafilatura) stays in Python: prepare() extracts the
//! text first and then calls `clean_body` on it.
//!
//! Python side:
//!     from newsflow_native import Preparer
//!     _native = Preparer(_TYPOGRAPHY, _SENTENCE_END_CHARS, clean_title, clean_body)
//!     _native.clean_title(title) == clean_title(title); _native.clean_body(body) == clean_body(body)
//!
//! Exactness notes (why the patterns below are not copied verbatim):
//! - NFKC is done by CPython's own `unicodedata.normalize` (Unicode 14.0 in Python 3.11), called
//!   only for non-ASCII text, exactly like the Python fast path; the rest of `normalise` is Rust.
//! - Python's `re` classes differ from the `regex` crate's: `\w` is str.isalnum() or "_" (= letters
//!   and numbers, no combining marks), `\s` also holds U+001C..U+001F, `\d` is Nd, and all of them
//!   follow Unicode 14.0, whereas the crate follows a newer Unicode. `python_re` rewrites them into
//!   explicit classes bounded by `\p{Age:14.0}` (checked code point by code point against Python).
//! - With IGNORECASE, Python also matches "i" to U+0130 (İ) and U+0131 (ı); the crate's simple case
//!   folding does not, so `python_re` adds them. (k/K/U+212A and s/S/U+017F agree already.)
//! - `\b` has no custom-class form in the crate, so each `\b` of the Python pattern is rewritten
//!   by hand into an equivalent (given what follows it), written with `\W`; the one lookahead of
//!   _FURNITURE ("posted ... (?=.*\d)") becomes a separate check in `is_furniture_pattern`, and the
//!   `(?=\S)` of _DATELINE is dropped because it always holds on squashed lines (see `Patterns::new`).
//! - Python's `$` (no MULTILINE) also matches before a final "\n"; every subject here is a squashed
//!   line, a token or a stripped title, none of which ends in "\n", so `$` is the plain end.
use std::borrow::Cow;
use std::collections::HashSet;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use regex::{Regex, RegexBuilder};

// ---- Python `re` semantics (Python 3.11, Unicode 14.0) as `regex` crate classes ----------------

/// Python `\w` for str patterns: str.isalnum() or "_" == general category L* or N*, or "_".
const PY_WORD: &str = r"[\p{L}\p{N}_&&\p{Age:14.0}]";
/// Python `\W` (also what `\b` tests on the other side of a word character).
const PY_NOT_WORD: &str = r"[^[\p{L}\p{N}_&&\p{Age:14.0}]]";
/// Python `\d`: general category Nd.
const PY_DIGIT: &str = r"[\p{Nd}&&\p{Age:14.0}]";
/// Python `\s` == str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
const PY_SPACE: &str = r"[\s\x1C-\x1F]";
const PY_NOT_SPACE: &str = r"[^\s\x1C-\x1F]";
/// What Python's IGNORECASE adds to "i"/"I": LATIN CAPITAL I WITH DOT, LATIN SMALL DOTLESS I.
const TURKIC_I: &str = r"\x{130}\x{131}";

/// str.isspace() / `\s` in Python, as a char predicate (used by str.split() and str.strip()).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Translate a Python `re` pattern (the subset used in prepare.py) into `regex` crate syntax with
/// Python's meaning of `\w \W \d \s \S`, of IGNORECASE on "i", and of `(?i:...)` scopes.
/// `\b` and lookarounds are refused: they are rewritten by hand where the pattern is written.
fn python_re(pattern: &str, ignorecase: bool) -> Regex {
    let mut out = String::with_capacity(pattern.len() * 2);
    if ignorecase {
        out.push_str("(?i)");
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut scopes: Vec<bool> = Vec::new(); // IGNORECASE state to restore at each ")"
    let mut ic = ignorecase;
    let mut i = 0;
    // Classes are emitted without case folding ((?-i:...)) because Python's \w, \d, \s ignore
    // IGNORECASE, while the crate would case-fold a class (e.g. add U+0345 to \w via "ι").
    let no_fold = |class: &str, ic: bool| if ic { format!("(?-i:{class})") } else { class.to_string() };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let e = chars[i + 1];
                match e {
                    'w' => out.push_str(&no_fold(PY_WORD, ic)),
                    'W' => out.push_str(&no_fold(PY_NOT_WORD, ic)),
                    'd' => out.push_str(&no_fold(PY_DIGIT, ic)),
                    's' => out.push_str(PY_SPACE),
                    'S' => out.push_str(PY_NOT_SPACE),
                    'b' | 'B' | 'A' | 'Z' => panic!("python_re: rewrite \\{e} by hand in {pattern}"),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                i += 2;
            }
            '[' => {
                // A character class: copy it, expanding \w \d \s into nested classes and adding the
                // Turkic i's when, under IGNORECASE, it holds "i" or "I" (as a letter or in a range).
                let mut j = i + 1;
                let negated = chars.get(j) == Some(&'^');
                let mut body = String::new();
                let mut holds_i = false;
                while chars[j] != ']' {
                    if chars[j] == '\\' {
                        match chars[j + 1] {
                            'w' => body.push_str(PY_WORD),
                            'd' => body.push_str(PY_DIGIT),
                            's' => body.push_str(PY_SPACE),
                            other => {
                                body.push('\\');
                                body.push(other);
                            }
                        }
                        j += 2;
                        continue;
                    }
                    let (lo, hi) = if chars[j + 1] == '-' && chars[j + 2] != ']' {
                        body.extend([chars[j], '-', chars[j + 2]]);
                        j += 3;
                        (chars[j - 3], chars[j - 1])
                    } else {
                        body.push(chars[j]);
                        j += 1;
                        (chars[j - 1], chars[j - 1])
                    };
                    holds_i |= (lo..=hi).contains(&'i') || (lo..=hi).contains(&'I');
                }
                if ic && (body.contains(PY_WORD) || body.contains(PY_DIGIT)) {
                    panic!("python_re: \\w or \\d inside a class under IGNORECASE in {pattern}");
                }
                if ic && holds_i {
                    assert!(!negated, "python_re: negated class with i under IGNORECASE");
                    body.push_str(TURKIC_I);
                }
                out.push('[');
                out.push_str(&body);
                out.push(']');
                i = j + 1;
            }
            '(' => {
                scopes.push(ic);
                if chars[i + 1..].starts_with(&['?', 'i', ':']) {
                    ic = true;
                    out.push_str("(?i:");
                    i += 4;
                } else if chars[i + 1..].starts_with(&['?', ':']) {
                    out.push_str("(?:");
                    i += 3;
                } else if chars.get(i + 1) == Some(&'?') {
                    panic!("python_re: unsupported group syntax in {pattern}");
                } else {
                    out.push('(');
                    i += 1;
                }
            }
            ')' => {
                ic = scopes.pop().expect("python_re: unbalanced )");
                out.push(')');
                i += 1;
            }
            'i' | 'I' if ic => {
                out.push_str(&format!("[iI{TURKIC_I}]"));
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    RegexBuilder::new(&out)
        .size_limit(64 << 20)
        // The Unicode classes make big NFAs; with the default lazy-DFA cache the crate falls back
        // to its much slower PikeVM on some of these patterns.
        .dfa_size_limit(64 << 20)
        .build()
        .unwrap_or_else(|e| panic!("python_re: {pattern} -> {out}: {e}"))
}

// ---- The patterns of prepare.py, in Python syntax (see python_re), same names --------------------

const SOCIAL: &str = r"facebook|twitter|x|email|e-mail|whatsapp|linkedin|pinterest|reddit|print|telegram|messenger|copy link|flipboard|tumblr|instagram|youtube|tiktok|sms|mail|share|tweet|pin it";
const MONTH: &str = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?";
const DAY: &str = r"(?i:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?";
const PLACE: &str = r"[A-Z][A-Za-z.'-]*(?:[ ,]+[A-Z][A-Za-z.'-]*){0,3}";
const AGENCY: &str = r"\([A-Za-z][\w .&/-]{0,30}\)";

struct Patterns {
    /// _FURNITURE without its "posted|published|..." alternative (see `furniture_posted`).
    furniture: Regex,
    /// The start of _FURNITURE's `(?:posted|published|updated|last updated|modified)\b(?=.*\d).{0,60}`.
    furniture_posted: Regex,
    byline: Regex,
    related_head: Regex,
    stamp_token: Regex,
    dateline: Regex,
    title_prefix: Regex,
    title_site: Regex,
    word_char: Regex,
    digit: Regex,
}

impl Patterns {
    fn new() -> Self {
        // Each Python `X\b.*` (X ending in a word character) is `X(?:\W.*)?`: at the end of the
        // line or before a non-word character. `.*\ball` is `(?:.*\W)?all`; `get our\b.*newsletter`
        // is `get our\W.*newsletter` ("n" is a word character); `s?\b.*\)` is `s?(?:\W.*)?\)`.
        let furniture = format!(
            r"^(?:(?:{SOCIAL})(?:\s*[|/,*:-]?\s*(?:{SOCIAL}))*|share (?:this|on|via|the|article|story|page)(?:\W.*)?|follow us(?:\W.*)?|like us on(?:\W.*)?|join us on(?:\W.*)?|find us on(?:\W.*)?|sign up(?:\W.*)?|subscribe(?:\W.*)?|newsletter(?:\W.*)?|get our\W.*newsletter.*|read (?:the )?(?:full|original|more|whole)(?:\W.*)?|continue reading(?:\W.*)?|click here(?:\W.*)?|more here(?:\W.*)?|(?:advertisement|advert|sponsored(?: content)?|promoted|ad|ads by \w+|story continues below.*)|(?:copyright|\(c\)|©).*|(?:.*\W)?all rights reserved(?:\W.*)?|(?:image|photo|picture|video|graphic) ?(?:caption|credit|source|copyright)?\s*[:].*|(?:image|photo|picture)s? (?:caption|credit|copyright)(?:\W.*)?|(?:getty images|ap photo|reuters|afp|epa|pa images|shutterstock)(?:\s*/.*)?|\((?:ap |afp |reuters )?(?:photo|image|picture)s?(?:\W.*)?\)|(?:comments?|\d+ comments?|leave a comment|view comments|show comments)|(?:tags?|topics|filed under|categories)\s*:.*)\s*$"
        );
        let byline = r"^By [A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3}(?:,? (?:and|&) [A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3})?(?:\s*[,|-]\s*.{0,60})?$";
        let related_head = r"^(?:related(?: stories| articles| coverage| news| content| links| reading| topics)?|you (?:may|might) also like|(?:more|other|top|latest|popular|recommended|trending) (?:stories|news|articles|headlines|from .{1,40}|on .{1,40})|recommended(?: for you)?|most (?:read|popular|viewed|shared|watched)|trending(?: now)?|see also|also read|read (?:more|next|also)|what to read next|around the web|from the web|elsewhere on .{1,40}|don't miss|editor'?s picks|in other news)\s*:?\s*$";
        let stamp_token = format!(
            r"^(?:{MONTH}|{DAY}|\d{{1,4}}(?:st|nd|rd|th)?[,:.]?|[ap]\.?|m\.?|[ap]\.?m\.?|at|on|et|gmt|utc|bst|est|edt|pst|pdt|cet|[-|:,/]|updated|posted|published)$"
        );
        // Python ends with `\s+(?=\S)`. The dateline is matched on a squashed line (single spaces,
        // none at the end), so the one space `\s+` takes is always followed by a non-space.
        let dateline = format!(
            r"^(?:[A-Z]{{2}}[A-Z.'-]*(?:[ ,]+[A-Z][A-Za-z.'-]*){{0,3}}(?:,? {MONTH} \d{{1,2}}(?:,? \d{{4}})?)?\s*(?:{AGENCY})?|{PLACE}(?:,? {MONTH} \d{{1,2}}(?:,? \d{{4}})?)?\s*{AGENCY}|{AGENCY})\s*(?:-{{1,3}}|:)\s+"
        );
        let title_prefix = r"^(?:(?:update\s*\d*|updated|breaking(?: news)?|exclusive|watch|video|live|analysis|factbox|corrected)\s*[-:]\s*)+";
        let title_site = r"\s+[|»]\s+[^|]{1,40}$";
        Patterns {
            furniture: python_re(&furniture, true),
            furniture_posted: python_re(r"^(?:posted|published|updated|last updated|modified)", true),
            byline: python_re(byline, false),
            related_head: python_re(related_head, true),
            stamp_token: python_re(&stamp_token, true),
            dateline: python_re(&dateline, false),
            title_prefix: python_re(title_prefix, true),
            title_site: python_re(title_site, false),
            word_char: python_re(r"^\w", false),
            digit: python_re(r"\d", false),
        }
    }

    /// `_FURNITURE.match(line)`.
    fn is_furniture_pattern(&self, line: &str) -> bool {
        if self.furniture.is_match(line) {
            return true;
        }
        // `(?:posted|...|modified)\b(?=.*\d).{0,60}\s*$`: after the word, the rest of the (squashed,
        // so right-stripped) line is at most 60 characters, holds a digit, and starts at a word
        // boundary (so it is empty or starts with a non-word character; empty has no digit).
        match self.furniture_posted.find(line) {
            Some(m) => {
                let rest = &line[m.end()..];
                !self.word_char.is_match(rest) && rest.chars().count() <= 60 && self.digit.is_match(rest)
            }
            None => false,
        }
    }
}

// ---- The functions of prepare.py -----------------------------------------------------------------

/// Whether `line` is already what `" ".join(line.split())` makes of it: words separated by single
/// spaces, no other whitespace, none at either end. The byte scan has no early exit so that it
/// vectorises; a character for which str.isspace() is true is either ASCII or starts with byte
/// C2, E1, E2 or E3, and only lines holding such a byte are decoded.
fn is_squashed(line: &str) -> bool {
    let bytes = line.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') || line.contains("  ") {
        return false;
    }
    let suspicious = bytes.iter().fold(false, |seen, &b| {
        seen | (b.wrapping_sub(b'\t') < 5) | (b.wrapping_sub(0x1c) < 4) | (b == 0xc2) | (b.wrapping_sub(0xe1) < 3)
    });
    !suspicious || !line.chars().any(|c| c != ' ' && is_py_space(c))
}

/// `" ".join(line.split())`: borrowed when the line is already squashed.
fn squash(line: &str) -> Cow<'_, str> {
    if is_squashed(line) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    for word in line.split(is_py_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// `_MOJIBAKE_A.sub("", text)`: drop "Â" when the next character is in U+00A0..U+00BF.
fn strip_mojibake_a(text: &str) -> Cow<'_, str> {
    if !text.contains('\u{c2}') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{c2}' && matches!(chars.peek(), Some(&('\u{a0}'..='\u{bf}'))) {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// `_ZERO_WIDTH`.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}')
}

/// The part of `str.lower().startswith(("copyright", "©"))` that can be true: no other character
/// lowers to a string starting with these (U+0130 lowers to "i\u0307", U+212A to "k").
fn lower_starts_with_copyright(line: &str) -> bool {
    line.starts_with('©') || line.get(..9).is_some_and(|head| head.eq_ignore_ascii_case("copyright"))
}

/// `_looks_like_sentence_about(line)` for a squashed line (so words == spaces + 1, no trailing
/// whitespace for rstrip to remove).
fn looks_like_sentence_about(line: &str, spaces: usize) -> bool {
    spaces + 1 >= 10 && line.ends_with('.') && !lower_starts_with_copyright(line)
}

/// Compiled twin of `streams.prepare.clean_title` / `clean_body`.
#[pyclass(frozen, module = "newsflow_native")]
pub struct Preparer {
    patterns: Patterns,
    /// `_TYPOGRAPHY`, from the Python module, sorted by character for a binary search.
    typography: Vec<(char, String)>,
    /// Which ASCII characters are keys of `typography` ("`").
    typography_ascii_keys: [bool; 128],
    /// `_SENTENCE_END_CHARS`, from the Python module.
    sentence_end_chars: HashSet<char>,
    /// CPython's `unicodedata.normalize` (the Unicode version the reference uses).
    unicodedata_normalize: Py<PyAny>,
    /// The Python reference functions, for the one input Rust cannot hold: a str with lone
    /// surrogates (not valid UTF-8).
    python_clean_title: Option<Py<PyAny>>,
    python_clean_body: Option<Py<PyAny>>,
}

fn single_char(s: &str, what: &str) -> PyResult<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(PyValueError::new_err(format!("{what}: expected one character, got {s:?}"))),
    }
}

impl Preparer {
    /// `normalise(text)`: ASCII untouched; else _MOJIBAKE_A, NFKC, _ZERO_WIDTH, _TYPOGRAPHY.
    fn normalise<'a>(&self, py: Python<'_>, text: &'a str) -> PyResult<Cow<'a, str>> {
        if text.is_ascii() {
            return Ok(Cow::Borrowed(text));
        }
        let demojibaked = strip_mojibake_a(text);
        let nfkc = self.unicodedata_normalize.call1(py, ("NFKC", demojibaked.as_ref()))?;
        let nfkc = nfkc.downcast_bound::<PyString>(py)?.to_cow()?;
        // _ZERO_WIDTH.sub and the _TYPOGRAPHY fold in one pass; runs of untouched text are copied
        // whole, and only non-ASCII characters (and the ASCII keys of the table) are looked up.
        let mut out = String::with_capacity(nfkc.len());
        let bytes = nfkc.as_bytes();
        let mut verbatim_from = 0;
        let mut k = 0;
        while k < bytes.len() {
            let (c, width) = if bytes[k] < 0x80 {
                if !self.typography_ascii_keys[bytes[k] as usize] {
                    k += 1;
                    continue;
                }
                (bytes[k] as char, 1)
            } else {
                let c = nfkc[k..].chars().next().expect("char boundary");
                (c, c.len_utf8())
            };
            let replacement = if is_zero_width(c) {
                Some("")
            } else {
                self.typography.binary_search_by_key(&c, |(key, _)| *key).ok().map(|i| self.typography[i].1.as_str())
            };
            if let Some(replacement) = replacement {
                out.push_str(&nfkc[verbatim_from..k]);
                out.push_str(replacement);
                verbatim_from = k + width;
            }
            k += width;
        }
        out.push_str(&nfkc[verbatim_from..]);
        Ok(Cow::Owned(out))
    }

    /// `_is_teaser_line(line)` for a squashed, non-empty line.
    fn is_teaser_line(&self, line: &str, spaces: usize) -> bool {
        spaces <= 13 && !line.chars().next_back().is_some_and(|c| self.sentence_end_chars.contains(&c))
    }

    /// `_is_stamp(line)`.
    fn is_stamp(&self, line: &str, spaces: usize) -> bool {
        if spaces >= 14 || !self.patterns.digit.is_match(line) {
            return false;
        }
        // line.replace(",", " , ").split(): the line holds no whitespace but single spaces, so the
        // tokens are its space-separated pieces with every "," a token of its own.
        let mut tokens: Vec<&str> = Vec::with_capacity(16);
        for (k, piece) in line.split(',').enumerate() {
            if k > 0 {
                tokens.push(",");
            }
            tokens.extend(piece.split(' ').filter(|t| !t.is_empty()));
            if tokens.len() > 14 {
                return false;
            }
        }
        !tokens.is_empty() && tokens.iter().all(|t| self.patterns.stamp_token.is_match(t))
    }

    /// `_is_furniture(line)`.
    fn is_furniture(&self, line: &str, spaces: usize) -> bool {
        if line.chars().count() > 160 {
            return false;
        }
        (self.patterns.is_furniture_pattern(line) && !looks_like_sentence_about(line, spaces))
            || self.patterns.byline.is_match(line)
            || self.is_stamp(line, spaces)
    }

    fn clean_title_str(&self, py: Python<'_>, title: &str) -> PyResult<String> {
        let normalised = self.normalise(py, title)?;
        // _WS.sub(" ", ...).strip(): runs of [ \t\r\f\v] become one space ("\n" and the other
        // Unicode spaces stay, and only strip() removes them at the ends).
        let mut squashed = String::with_capacity(normalised.len());
        let mut in_run = false;
        for c in normalised.chars() {
            if matches!(c, ' ' | '\t' | '\r' | '\u{c}' | '\u{b}') {
                if !in_run {
                    squashed.push(' ');
                }
                in_run = true;
            } else {
                squashed.push(c);
                in_run = false;
            }
        }
        let title = squashed.trim_matches(is_py_space);
        // _TITLE_PREFIX.sub: anchored at the start, so at most one match.
        let title = match self.patterns.title_prefix.find(title) {
            Some(m) => &title[m.end()..],
            None => title,
        };
        // _TITLE_SITE.sub: the match runs to the end, so at most one.
        let stripped = match self.patterns.title_site.find(title) {
            Some(m) => &title[..m.start()],
            None => title,
        };
        let kept = if stripped.is_empty() { title } else { stripped };
        Ok(kept.trim_matches(is_py_space).to_string())
    }

    fn clean_body_str(&self, py: Python<'_>, body: &str) -> PyResult<String> {
        let normalised = self.normalise(py, body)?;
        let lines: Vec<Cow<'_, str>> =
            normalised.split('\n').map(squash).filter(|line| !line.is_empty()).collect();
        let spaces: Vec<usize> = lines.iter().map(|line| line.bytes().filter(|&b| b == b' ').count()).collect();
        // teaser_run[i]: how many teaser lines follow in a row from line i (the `j - i` of Python).
        let mut teaser_run = vec![0usize; lines.len() + 1];
        for i in (0..lines.len()).rev() {
            if self.is_teaser_line(&lines[i], spaces[i]) {
                teaser_run[i] = teaser_run[i + 1] + 1;
            }
        }
        let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
        let mut i = 0;
        while i < lines.len() {
            let line: &str = &lines[i];
            if self.patterns.related_head.is_match(line) {
                // Drop the header and the list after it: `_is_teaser_line(l) or l.count(" ") <= 24`
                // (a teaser line has at most 13 spaces, so the count alone decides).
                i += 1;
                while i < lines.len() && spaces[i] <= 24 {
                    i += 1;
                }
                continue;
            }
            if self.is_furniture(line, spaces[i]) {
                i += 1;
                continue;
            }
            // Runs of three or more short unpunctuated lines are link lists, not prose.
            if teaser_run[i] >= 3 {
                i += teaser_run[i];
                continue;
            }
            kept.push(line);
            i += 1;
        }
        let mut out = String::with_capacity(normalised.len());
        for (k, line) in kept.iter().enumerate() {
            if k == 0 {
                // _DATELINE.sub(..., count=1): anchored, so it can only cut a prefix.
                match self.patterns.dateline.find(line) {
                    Some(m) => out.push_str(&line[m.end()..]),
                    None => out.push_str(line),
                }
            } else {
                out.push('\n');
                out.push_str(line);
            }
        }
        Ok(out)
    }
}

#[pymethods]
impl Preparer {
    /// Preparer(typography, sentence_end_chars, python_clean_title=None, python_clean_body=None)
    ///
    /// `typography` is streams.prepare._TYPOGRAPHY, `sentence_end_chars` _SENTENCE_END_CHARS; the
    /// optional reference functions are used only for a str Rust cannot hold (lone surrogates).
    #[new]
    #[pyo3(signature = (typography, sentence_end_chars, python_clean_title=None, python_clean_body=None))]
    fn new(
        py: Python<'_>,
        typography: &Bound<'_, PyDict>,
        sentence_end_chars: &Bound<'_, PyAny>,
        python_clean_title: Option<Py<PyAny>>,
        python_clean_body: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut table = Vec::new();
        for (key, value) in typography.iter() {
            table.push((single_char(&key.extract::<String>()?, "typography key")?, value.extract::<String>()?));
        }
        table.sort();
        let mut ascii_keys = [false; 128];
        for (key, _) in &table {
            if key.is_ascii() {
                ascii_keys[*key as usize] = true;
            }
        }
        let mut end_chars = HashSet::new();
        for item in sentence_end_chars.try_iter()? {
            end_chars.insert(single_char(&item?.extract::<String>()?, "sentence end char")?);
        }
        Ok(Preparer {
            patterns: Patterns::new(),
            typography: table,
            typography_ascii_keys: ascii_keys,
            sentence_end_chars: end_chars,
            unicodedata_normalize: py.import("unicodedata")?.getattr("normalize")?.unbind(),
            python_clean_title,
            python_clean_body,
        })
    }

    /// clean_title(title) -> str, as streams.prepare.clean_title (None gives "").
    #[pyo3(signature = (title))]
    fn clean_title(&self, py: Python<'_>, title: Option<&Bound<'_, PyString>>) -> PyResult<PyObject> {
        let Some(title) = title else {
            return Ok(PyString::new(py, "").into_any().unbind());
        };
        match title.to_str() {
            Ok(text) => Ok(PyString::new(py, &self.clean_title_str(py, text)?).into_any().unbind()),
            Err(err) => match &self.python_clean_title {
                Some(reference) => reference.call1(py, (title,)),
                None => Err(err),
            },
        }
    }

    /// clean_body(body) -> str, as streams.prepare.clean_body.
    fn clean_body(&self, py: Python<'_>, body: &Bound<'_, PyString>) -> PyResult<PyObject> {
        match body.to_str() {
            Ok(text) => Ok(PyString::new(py, &self.clean_body_str(py, text)?).into_any().unbind()),
            Err(err) => match &self.python_clean_body {
                Some(reference) => reference.call1(py, (body,)),
                None => Err(err),
            },
        }
    }

    /// normalise(text) -> str, as streams.prepare.normalise (exposed for tests).
    #[pyo3(name = "normalise")]
    fn normalise_py(&self, py: Python<'_>, text: &str) -> PyResult<String> {
        Ok(self.normalise(py, text)?.into_owned())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Preparer>()
}
