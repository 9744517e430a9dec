//! Keeping personal data out of logs: pattern scrubbing of text.
//!
//! `Scrubber` runs Logstop's filters, in Logstop's order, as passes of the
//! `regex` crate, whose engines run in time linear in the text whatever the
//! pattern or input (no backtracking to explode). Card candidates must also
//! pass the Luhn check; IPv6 candidates must parse as an address. Each value
//! found is replaced by `[FILTERED]`, or, in keyed mode, by
//! `[FILTERED:<token>]` where the token is what the blind index computes for
//! the value (`search::BlindIndexer::compute`, the function `BlindIndex`
//! itself calls), so a log line can be joined to the rows it is about.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{KeyInit, Mac};
use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use sha2::Sha256;
use zeroize::Zeroizing;

use rayon::prelude::*;

use crate::core::batch::pool;
use crate::core::error::{Error, Result};
use crate::core::keys::{SecretKey, KEY_LEN};
use crate::core::primitives::pbkdf2_hmac_sha256;
use crate::core::search::{BlindIndexer, OutputEncoding};

/// The HKDF salt of the IP pseudonym key: a label no other sealbox key uses
/// (docs/format.md lists them).
const IP_PSEUDONYM_LABEL: &[u8] = b"sealbox/v1/ip-pseudonym";

/// What Logstop writes in place of a value.
pub const FILTERED: &str = "[FILTERED]";

// Logstop's patterns (an email's local part may be one character), with ASCII classes and word boundaries as Ruby's are
// (which also keeps every pass on the regex crate's DFA engines).
const URL_PASSWORD: &str = r"((?://|%2F%2F)\S+(?::|%3A))\S+(@|%40)";
const EMAIL: &str = r"(?i)(?-u:\b)[a-z0-9_](?:[a-z0-9_+.\-]|%2B)*(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]+(?-u:\b)";
// 13 to 19 digits, in groups of 3 to 6 after the first four, separated by at
// most one space, '+' or '-': the Luhn check and the digit count are checked after.
const CARD: &str = r"(?-u:\b)[2-6][0-9]{3}(?:[ +\-]?[0-9]{3,6}){1,4}(?-u:\b)";
const E164_PHONE: &str = r"(?:\+|%2B)[1-9][0-9]{6,14}(?-u:\b)";
const PHONE: &str =
    r"(?-u:\b)(?:\+[0-9]{1,2}\s)?\(?[0-9]{3}\)?[\s+.\-][0-9]{3}[\s+.\-][0-9]{4}(?-u:\b)";
const SSN: &str = r"(?-u:\b)[0-9]{3}[\s+\-][0-9]{2}[\s+\-][0-9]{4}(?-u:\b)";
// A run of hex digits, dots and at least two colons, then an optional zone id:
// kept unless it parses as an IPv6 address.
const IPV6: &str = r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z_.\-]+)?";
const IPV4: &str = r"(?-u:\b)[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?-u:\b)";
const MAC: &str = r"(?i)(?-u:\b)[0-9a-f]{2}(?:(?::|%3A)[0-9a-f]{2}){5}(?-u:\b)";

/// Which filters run. The defaults are Logstop's: everything but IP and MAC
/// addresses.
#[derive(Clone, Debug)]
pub struct ScrubOptions {
    pub url_password: bool,
    pub email: bool,
    pub credit_card: bool,
    pub phone: bool,
    pub ssn: bool,
    pub ip: bool,
    pub mac: bool,
    /// More patterns (regex crate syntax), applied last, each match filtered whole.
    pub patterns: Vec<String>,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        Self {
            url_password: true,
            email: true,
            credit_card: true,
            phone: true,
            ssn: true,
            ip: false,
            mac: false,
            patterns: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    UrlPassword,
    Email,
    Card,
    Phone,
    Ssn,
    Ipv6,
    Ipv4,
    Mac,
    Custom,
}

/// Compiled filters; immutable and shared by threads.
pub struct Scrubber {
    passes: Vec<(Kind, Regex)>,
    /// Every pass at once: one scan tells which passes can match the text
    /// as given, so a clean line costs one scan rather than one per filter.
    set: RegexSet,
}

/// Regexes of user patterns are bounded so that a hostile pattern cannot take
/// unbounded memory to compile.
const SIZE_LIMIT: usize = 16 << 20;

fn compile(pattern: &str) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| Error::Invalid(format!("invalid pattern: {e}")))
}

/// The Luhn checksum of ASCII digits (other bytes skipped) is valid.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits
        .iter()
        .rev()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

/// The card numbers in a card candidate, as byte spans within it: the whole
/// candidate when it is one, else the longest runs of its digit groups that are
/// (a card followed by another number, `4242 4242 4242 4242 2026`, is one
/// candidate of 20 digits).
fn card_spans(candidate: &str) -> Vec<(usize, usize)> {
    let bytes = candidate.as_bytes();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i).is_some_and(u8::is_ascii_digit) {
            let start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            groups.push((start, i));
        } else {
            i += 1;
        }
    }
    let mut spans = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let mut found = None;
        for last in (first..groups.len()).rev() {
            let (Some(&(start, _)), Some(&(_, end))) = (groups.get(first), groups.get(last)) else {
                continue;
            };
            let span = candidate.get(start..end).unwrap_or_default();
            let digits = span.bytes().filter(u8::is_ascii_digit).count();
            if (13..=19).contains(&digits)
                && matches!(span.as_bytes().first(), Some(b'2'..=b'6'))
                && luhn_valid(span.as_bytes())
            {
                found = Some((last, (start, end)));
                break;
            }
        }
        match found {
            Some((last, span)) => {
                spans.push(span);
                first = last + 1;
            }
            None => first += 1,
        }
    }
    spans
}

fn is_word_byte(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// The IPv6 address inside an IPv6 candidate, as (start, end) within it: the
/// candidate without a trailing '.' or single ':' (punctuation of the
/// sentence), and with a zone id checked apart from the address.
fn ipv6_span(candidate: &str) -> Option<(usize, usize)> {
    let mut end = candidate.len();
    let (addr, _zone) = match candidate.find('%') {
        Some(i) => (candidate.get(..i)?, candidate.get(i..)),
        None => {
            let mut s = candidate;
            loop {
                if let Some(t) = s.strip_suffix('.') {
                    s = t;
                } else if s.ends_with(':') && !s.ends_with("::") {
                    s = s.get(..s.len() - 1)?;
                } else {
                    break;
                }
            }
            end = s.len();
            (s, None)
        }
    };
    let mut start = 0;
    let mut a = addr;
    if a.starts_with(':') && !a.starts_with("::") {
        a = a.get(1..)?;
        start = 1;
    }
    a.parse::<Ipv6Addr>().ok().map(|_| (start, end))
}

impl Scrubber {
    pub fn new(options: &ScrubOptions) -> Result<Self> {
        let mut passes = Vec::new();
        let mut add = |on: bool, kind: Kind, pattern: &str| -> Result<()> {
            if on {
                passes.push((kind, compile(pattern)?));
            }
            Ok(())
        };
        // Logstop's order: a URL's password before the email its user name may look like.
        add(options.url_password, Kind::UrlPassword, URL_PASSWORD)?;
        add(options.email, Kind::Email, EMAIL)?;
        add(options.credit_card, Kind::Card, CARD)?;
        add(options.phone, Kind::Phone, E164_PHONE)?;
        add(options.phone, Kind::Phone, PHONE)?;
        add(options.ssn, Kind::Ssn, SSN)?;
        // IPv6 first, so that an IPv4-mapped address goes whole.
        add(options.ip, Kind::Ipv6, IPV6)?;
        add(options.ip, Kind::Ipv4, IPV4)?;
        add(options.mac, Kind::Mac, MAC)?;
        for p in &options.patterns {
            add(true, Kind::Custom, p)?;
        }
        let set = RegexSetBuilder::new(passes.iter().map(|(_, re)| re.as_str()))
            .size_limit(SIZE_LIMIT * 4)
            .build()
            .map_err(|e| Error::Invalid(format!("invalid pattern: {e}")))?;
        Ok(Self { passes, set })
    }

    /// The number of regex passes.
    pub fn len(&self) -> usize {
        self.passes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passes.is_empty()
    }

    /// `text` with every value found replaced: by `replacement`, or with an
    /// index by `[FILTERED:<token>]` (`index.compute` of the value; index
    /// values in `raw` encoding are written as hex).
    pub fn scrub<'t>(
        &self,
        text: &'t str,
        replacement: &str,
        index: Option<&BlindIndexer>,
    ) -> Result<Cow<'t, str>> {
        let mut out: Cow<'t, str> = Cow::Borrowed(text);
        let mut failed: Option<Error> = None;
        let found = self.set.matches(text);
        for (i, (kind, re)) in self.passes.iter().enumerate() {
            // Until a pass changes the text, later passes see the text the set
            // scanned, and one the set did not match cannot match.
            if matches!(out, Cow::Borrowed(_)) && !found.matched(i) {
                continue;
            }
            let kind = *kind;
            let mut token = |value: &str| -> String {
                match index {
                    None => replacement.to_owned(),
                    Some(ix) => match token_of(ix, kind, value) {
                        Ok(t) => t,
                        Err(e) => {
                            failed.get_or_insert(e);
                            FILTERED.to_owned()
                        }
                    },
                }
            };
            let haystack: &str = &out;
            let replaced = re.replace_all(haystack, |c: &Captures<'_>| {
                let m = c.get(0);
                let whole = m.map(|m| m.as_str()).unwrap_or_default();
                match kind {
                    Kind::UrlPassword => {
                        let (pre, at) = (
                            c.get(1).map(|m| m.as_str()).unwrap_or_default(),
                            c.get(2).map(|m| m.as_str()).unwrap_or_default(),
                        );
                        let secret = whole
                            .get(pre.len()..whole.len().saturating_sub(at.len()))
                            .unwrap_or_default();
                        format!("{pre}{}{at}", token(secret))
                    }
                    Kind::Card => {
                        let mut text = String::with_capacity(whole.len());
                        let mut at = 0;
                        for (start, end) in card_spans(whole) {
                            text.push_str(whole.get(at..start).unwrap_or_default());
                            text.push_str(&token(whole.get(start..end).unwrap_or_default()));
                            at = end;
                        }
                        text.push_str(whole.get(at..).unwrap_or_default());
                        text
                    }
                    // An address is not part of a word: `Error::Foo` holds none.
                    Kind::Ipv6
                        if m.is_some_and(|m| {
                            let b = haystack.as_bytes();
                            is_word_byte(m.start().checked_sub(1).and_then(|i| b.get(i)))
                                || is_word_byte(b.get(m.end()))
                        }) =>
                    {
                        whole.to_owned()
                    }
                    Kind::Ipv6 => match ipv6_span(whole) {
                        Some((s, e)) => {
                            let (head, rest) = whole.split_at(s);
                            let (addr, tail) = rest.split_at(e - s);
                            format!("{head}{}{tail}", token(addr))
                        }
                        None => whole.to_owned(),
                    },
                    _ => token(whole),
                }
            });
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Texts longer than this are scrubbed a line at a time by `scrub_text`.
pub const LINES_FROM: usize = 64 * 1024;
/// The work of one thread in `scrub_text`: about this many bytes of whole lines.
const LINES_CHUNK: usize = 256 * 1024;

impl Scrubber {
    /// `scrub`, except that a text longer than `LINES_FROM` (a log file) is
    /// scrubbed line by line, its lines in parallel: one line's replacement
    /// then never makes the next lines be rescanned, but a value split by a
    /// line break is not found.
    pub fn scrub_text<'t>(
        &self,
        text: &'t str,
        replacement: &str,
        index: Option<&BlindIndexer>,
    ) -> Result<Cow<'t, str>> {
        if text.len() <= LINES_FROM {
            return self.scrub(text, replacement, index);
        }
        let bytes = text.as_bytes();
        let mut bounds = Vec::with_capacity(text.len() / LINES_CHUNK + 1);
        let mut start = 0;
        while start < text.len() {
            let end = (start + LINES_CHUNK).min(text.len());
            let end = bytes
                .get(end..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .map_or(text.len(), |i| end + i + 1);
            bounds.push((start, end));
            start = end;
        }
        let parts = pool(None)?.install(|| {
            bounds
                .par_iter()
                .map(|&(s, e)| {
                    self.scrub_lines(text.get(s..e).unwrap_or_default(), replacement, index)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        if parts.iter().all(Option::is_none) {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len() + text.len() / 16);
        for (part, &(s, e)) in parts.iter().zip(&bounds) {
            match part {
                Some(p) => out.push_str(p),
                None => out.push_str(text.get(s..e).unwrap_or_default()),
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Whole lines scrubbed one at a time; None when none changed.
    fn scrub_lines(
        &self,
        chunk: &str,
        replacement: &str,
        index: Option<&BlindIndexer>,
    ) -> Result<Option<String>> {
        let mut out: Option<String> = None;
        let mut at = 0;
        for line in chunk.split_inclusive('\n') {
            let body = line.strip_suffix('\n').unwrap_or(line);
            match self.scrub(body, replacement, index)? {
                Cow::Owned(o) => {
                    let buf = out.get_or_insert_with(|| {
                        let mut b = String::with_capacity(chunk.len() + 64);
                        b.push_str(chunk.get(..at).unwrap_or_default());
                        b
                    });
                    buf.push_str(&o);
                    buf.push_str(line.get(body.len()..).unwrap_or_default());
                }
                Cow::Borrowed(_) => {
                    if let Some(buf) = out.as_mut() {
                        buf.push_str(line);
                    }
                }
            }
            at += line.len();
        }
        Ok(out)
    }
}

/// The keyed replacement of one value: emails percent-decoded first, so that
/// `alice%40example.org` gets the token of `alice@example.org`.
fn token_of(index: &BlindIndexer, kind: Kind, value: &str) -> Result<String> {
    let decoded: Cow<'_, str> = if kind == Kind::Email && value.contains('%') {
        Cow::Owned(
            value
                .replace("%40", "@")
                .replace("%2B", "+")
                .replace("%2b", "+"),
        )
    } else {
        Cow::Borrowed(value)
    };
    let raw = index.compute(None, decoded.as_bytes())?;
    let text = match index.encoding() {
        OutputEncoding::Raw => raw.iter().map(|b| format!("{b:02x}")).collect(),
        _ => String::from_utf8(raw).map_err(|_| Error::Internal("index value is not text"))?,
    };
    Ok(format!("[FILTERED:{text}]"))
}

/// An IP address as written by a caller, its zone id set apart.
fn parse_ip(text: &str) -> Result<IpAddr> {
    let bad = || Error::Invalid("not an IPv4 or IPv6 address".into());
    let addr = match text.split_once('%') {
        Some((a, zone)) => {
            if zone.is_empty() || !a.contains(':') {
                return Err(bad());
            }
            a
        }
        None => text,
    };
    addr.parse::<IpAddr>().map_err(|_| bad())
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// or IPv4-compatible (`::a.b.c.d`, but not `::` or `::1`), with which it was.
fn carried_ipv4(a: &Ipv6Addr) -> Option<(Ipv4Addr, bool)> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return Some((v4, true));
    }
    let o = a.octets();
    let (high, low) = o.split_at(12);
    if high.iter().all(|&b| b == 0) {
        let v4 = Ipv4Addr::new(*low.first()?, *low.get(1)?, *low.get(2)?, *low.get(3)?);
        if u32::from(v4) > 1 {
            return Some((v4, false));
        }
    }
    None
}

/// Keyed pseudonyms of IP addresses, shaped like addresses of the same family.
///
/// The key is `HKDF-SHA256(ikm = key, salt = "sealbox/v1/ip-pseudonym", 32)`;
/// the pseudonym of an address `A` of family `f` (4 or 6, `n` = 4 or 16 bytes):
///
/// - plain: `HMAC-SHA256(k, 00 ‖ f ‖ A)[0:n]`;
/// - prefix-preserving: bit `i` of the output is bit `i` of `A` XOR the last
///   bit of `HMAC-SHA256(k, 01 ‖ f ‖ i ‖ A with bits i.. cleared)` (Crypto-PAn's
///   construction with HMAC as its PRF), so two addresses that share their
///   first `p` bits have pseudonyms that share their first `p` bits.
///
/// An IPv4 address carried in an IPv6 one is pseudonymized as IPv4 and written
/// in the same form (`::ffff:w.x.y.z`, `::w.x.y.z`); a zone id is dropped.
pub struct IpHasher {
    mac: hmac::Hmac<Sha256>,
    prefix_preserving: bool,
}

impl IpHasher {
    pub fn new(key: &SecretKey, prefix_preserving: bool) -> Result<Self> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(IP_PSEUDONYM_LABEL), key.expose());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand(&[], okm.as_mut())
            .map_err(|_| Error::Internal("HKDF output too long"))?;
        let mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(okm.as_ref())
            .map_err(|_| Error::Internal("HMAC key"))?;
        Ok(Self {
            mac,
            prefix_preserving,
        })
    }

    fn prf(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.mac.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn bytes<const N: usize>(&self, family: u8, a: [u8; N]) -> [u8; N] {
        let mut out = [0u8; N];
        if !self.prefix_preserving {
            let tag = self.prf(&[&[0, family], &a]);
            for (o, t) in out.iter_mut().zip(tag.iter()) {
                *o = *t;
            }
            return out;
        }
        let mut prefix = [0u8; N];
        for i in 0..N * 8 {
            let (byte, bit) = (i / 8, 7 - (i % 8));
            let flip = self.prf(&[&[1, family, i as u8], &prefix])[31] & 1;
            let input = a.get(byte).map(|b| (b >> bit) & 1).unwrap_or_default();
            if let Some(o) = out.get_mut(byte) {
                *o |= (input ^ flip) << bit;
            }
            if let Some(p) = prefix.get_mut(byte) {
                *p |= input << bit;
            }
        }
        out
    }

    fn v4(&self, a: Ipv4Addr) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes(4, a.octets()))
    }

    /// The pseudonym of the address written in `text`.
    pub fn hash(&self, text: &str) -> Result<String> {
        Ok(match parse_ip(text.trim())? {
            IpAddr::V4(a) => self.v4(a).to_string(),
            IpAddr::V6(a) => match carried_ipv4(&a) {
                Some((v4, true)) => format!("::ffff:{}", self.v4(v4)),
                Some((v4, false)) => format!("::{}", self.v4(v4)),
                None => Ipv6Addr::from(self.bytes(6, a.octets())).to_string(),
            },
        })
    }
}

/// Ruby's `IPAddr#to_s` of an IPv6 address, the text IP Anonymizer hashes:
/// lowercase groups without leading zeros, the leftmost longest run of two or
/// more zero groups written `::`, and `::w.x.y.z` / `::ffff:w.x.y.z` when all
/// but the last two groups (or all but `ffff` and them) are zero.
pub fn ruby_ipv6(value: u128) -> String {
    if value == 0 {
        return "::".into();
    }
    let groups: Vec<u16> = (0..8).map(|i| (value >> (112 - 16 * i)) as u16).collect();
    // The leftmost longest run of at least two zero groups.
    let (mut best, mut best_len, mut i) = (0usize, 0usize, 0usize);
    while i < groups.len() {
        let len = groups.iter().skip(i).take_while(|&&g| g == 0).count();
        if len > best_len {
            (best, best_len) = (i, len);
        }
        i += len.max(1);
    }
    let hex = |gs: &[u16]| {
        gs.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&groups);
    }
    let (head, rest) = groups.split_at(best);
    let tail = rest.get(best_len..).unwrap_or(&[]);
    // Ruby's dotted forms: `::X:Y` and `::ffff:X:Y` (all groups before them zero).
    let dotted = |prefix: &str, hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        format!("::{prefix}{a}.{b}.{c}.{d}")
    };
    if head.is_empty() {
        match *tail {
            [hi, lo] => return dotted("", hi, lo),
            [0xffff, hi, lo] => return dotted("ffff:", hi, lo),
            _ => {}
        }
    }
    format!("{}::{}", hex(head), hex(tail))
}

/// IP Anonymizer's `hash_ip` (the `ip_anonymizer` gem and its ports):
/// `PBKDF2-HMAC-SHA256(password = the address as Ruby writes it, salt = the
/// key string, iterations, 4 or 16 bytes)`, read as an address and written as
/// Ruby writes it. Kept to join with data that library produced; one
/// iteration is a keyed hash, not a slow one. A zone id is refused.
pub struct IpAnonymizer {
    salt: Zeroizing<Vec<u8>>,
    iterations: u32,
}

impl IpAnonymizer {
    pub fn new(salt: &[u8], iterations: u32) -> Result<Self> {
        if iterations == 0 {
            return Err(Error::Invalid("iterations must be a positive int".into()));
        }
        Ok(Self {
            salt: Zeroizing::new(salt.to_vec()),
            iterations,
        })
    }

    fn derive<const N: usize>(&self, text: &str) -> Result<[u8; N]> {
        let derived = pbkdf2_hmac_sha256(text.as_bytes(), &self.salt, self.iterations, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(derived.get(..N).ok_or(Error::Internal("PBKDF2 length"))?);
        Ok(out)
    }

    /// Whether one hash is slow enough to release the GIL for.
    pub fn slow(&self) -> bool {
        self.iterations >= 1000
    }

    /// The pseudonym of the address written in `text`.
    pub fn hash(&self, text: &str) -> Result<String> {
        let text = text.trim();
        if text.contains('%') {
            return Err(Error::Invalid(
                "ip_anonymizer mode does not take a zone id".into(),
            ));
        }
        Ok(match parse_ip(text)? {
            IpAddr::V4(a) => Ipv4Addr::from(self.derive::<4>(&a.to_string())?).to_string(),
            IpAddr::V6(a) => {
                let hashed = self.derive::<16>(&ruby_ipv6(u128::from(a)))?;
                ruby_ipv6(u128::from_be_bytes(hashed))
            }
        })
    }
}

/// A way of pseudonymizing addresses, for the batch forms.
pub enum IpPseudonyms {
    Prf(IpHasher),
    IpAnonymizer(IpAnonymizer),
}

impl IpPseudonyms {
    /// The pseudonym of the address written in `text`.
    pub fn hash(&self, text: &str) -> Result<String> {
        match self {
            Self::Prf(h) => h.hash(text),
            Self::IpAnonymizer(h) => h.hash(text),
        }
    }

    /// Whether one hash is slow enough to release the GIL for.
    pub fn slow(&self) -> bool {
        match self {
            Self::Prf(_) => false,
            Self::IpAnonymizer(h) => h.slow(),
        }
    }

    /// The pseudonyms of items `range` of `items` (UTF-8 text; a null item
    /// gives an empty one), in parallel: their text and the end offset of
    /// each, counted from the range's start; or the first bad address's
    /// position and the reason.
    pub fn hash_column(
        &self,
        items: &dyn crate::core::batch::Items,
        nulls: Option<&[bool]>,
        range: std::ops::Range<usize>,
        threads: Option<usize>,
    ) -> Result<(Vec<u8>, Vec<usize>)> {
        let one = |i: usize| -> Result<String> {
            if nulls.and_then(|n| n.get(i)).copied().unwrap_or(false) {
                return Ok(String::new());
            }
            let text = std::str::from_utf8(items.get(i))
                .map_err(|_| Error::Invalid(format!("item {i}: not UTF-8 text")))?;
            self.hash(text)
                .map_err(|e| Error::Invalid(format!("item {i}: {e}")))
        };
        let hashed: Vec<Result<String>> =
            pool(threads)?.install(|| range.into_par_iter().with_min_len(1024).map(one).collect());
        let mut data = Vec::new();
        let mut ends = Vec::with_capacity(hashed.len());
        for h in hashed {
            data.extend_from_slice(h?.as_bytes()); // the first failure, in order
            ends.push(data.len());
        }
        Ok((data, ends))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::search::{Algorithm, Keying};
    use crate::core::SecretKey;

    fn scrub(text: &str) -> String {
        Scrubber::new(&ScrubOptions::default())
            .unwrap()
            .scrub(text, FILTERED, None)
            .unwrap()
            .into_owned()
    }

    fn scrub_all(text: &str) -> String {
        let o = ScrubOptions {
            ip: true,
            mac: true,
            ..ScrubOptions::default()
        };
        Scrubber::new(&o)
            .unwrap()
            .scrub(text, FILTERED, None)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn logstop_cases() {
        assert_eq!(scrub("test@example.org"), "[FILTERED]");
        assert_eq!(scrub("TEST@EXAMPLE.ORG"), "[FILTERED]");
        assert_eq!(scrub("test%40example.org"), "[FILTERED]");
        assert_eq!(scrub("a%2Bb@example.org"), "[FILTERED]");
        assert_eq!(scrub("4242424242424242"), "[FILTERED]");
        assert_eq!(scrub("4242-4242-4242-4242"), "[FILTERED]");
        assert_eq!(scrub("4242 4242 4242 4242"), "[FILTERED]");
        assert_eq!(scrub("555-555-5555"), "[FILTERED]");
        assert_eq!(scrub("+15555555555"), "[FILTERED]");
        assert_eq!(scrub("123-45-6789"), "[FILTERED]");
        assert_eq!(
            scrub("https://user:pass@host"),
            "https://user:[FILTERED]@host"
        );
        assert_eq!(scrub("127.0.0.1"), "127.0.0.1");
        assert_eq!(scrub_all("127.0.0.1"), "[FILTERED]");
        assert_eq!(scrub_all("a4:83:e7:1a:2b:3c"), "[FILTERED]");
    }

    #[test]
    fn cards_need_luhn() {
        assert_eq!(scrub("4242424242424241"), "4242424242424241");
        assert_eq!(scrub("378282246310005"), "[FILTERED]"); // Amex, 15 digits
        assert_eq!(scrub("3782 822463 10005"), "[FILTERED]");
        assert_eq!(scrub("6011111111111117"), "[FILTERED]");
        assert_eq!(scrub("4222222222222"), "[FILTERED]"); // 13 digits
        assert_eq!(scrub("42424242424242424242"), "42424242424242424242"); // 20
        assert_eq!(scrub("4242 4242 4242 4242 2026"), "[FILTERED] 2026");
        assert_eq!(scrub("7 4242 4242 4242 4242"), "7 [FILTERED]");
    }

    #[test]
    fn ipv6_forms() {
        for ip in [
            "2001:db8::1",
            "::1",
            "fe80::1%eth0",
            "::ffff:192.0.2.1",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
        ] {
            assert_eq!(scrub_all(&format!("from {ip} ok")), "from [FILTERED] ok");
        }
        assert_eq!(scrub_all("at 2001:db8::1: done"), "at [FILTERED]: done");
        assert_eq!(scrub_all("12:30:45"), "12:30:45");
        assert_eq!(scrub_all("dead:beef:cafe"), "dead:beef:cafe");
        assert_eq!(scrub_all("Error::Foo a::b"), "Error::Foo [FILTERED]");
    }

    #[test]
    fn ip_pseudonyms() {
        let key = SecretKey::from_slice(&[9u8; 32]).unwrap();
        let plain = IpHasher::new(&key, false).unwrap();
        let pp = IpHasher::new(&key, true).unwrap();
        let a = plain.hash("8.8.4.4").unwrap();
        assert!(a.parse::<Ipv4Addr>().is_ok());
        assert_eq!(a, plain.hash("8.8.4.4").unwrap());
        assert_ne!(a, plain.hash("8.8.4.5").unwrap());
        assert!(plain
            .hash("2001:db8::1")
            .unwrap()
            .parse::<Ipv6Addr>()
            .is_ok());
        assert_eq!(
            plain.hash("fe80::1%eth0").unwrap(),
            plain.hash("fe80::1").unwrap()
        );
        let m = plain.hash("::ffff:8.8.4.4").unwrap();
        assert_eq!(m, format!("::ffff:{a}"));
        // Prefix preservation: a shared /24 stays shared, the rest differs.
        let (x, y) = (pp.hash("10.1.2.3").unwrap(), pp.hash("10.1.2.200").unwrap());
        let (x, y): (Ipv4Addr, Ipv4Addr) = (x.parse().unwrap(), y.parse().unwrap());
        assert_eq!(x.octets()[..3], y.octets()[..3]);
        assert_ne!(x, y);
        let (x, y) = (pp.hash("10.1.2.3").unwrap(), pp.hash("138.1.2.3").unwrap());
        let (x, y): (Ipv4Addr, Ipv4Addr) = (x.parse().unwrap(), y.parse().unwrap());
        assert_ne!(x.octets()[0] & 0x80, y.octets()[0] & 0x80);
        for bad in ["", "1.2.3", "1.2.3.4%eth0", "fe80::1%", "::g", "1.2.3.256"] {
            assert!(plain.hash(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ruby_ipv6_text() {
        let ruby = |s: &str| ruby_ipv6(u128::from(s.parse::<Ipv6Addr>().unwrap()));
        assert_eq!(ruby("::"), "::");
        assert_eq!(ruby("::1"), "::1");
        assert_eq!(ruby("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(ruby("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(ruby("::1:2"), "::0.1.0.2");
        assert_eq!(ruby("1::"), "1::");
        assert_eq!(ruby("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(ruby("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(ruby("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(ruby("2001:DB8::1"), "2001:db8::1");
        assert_eq!(ruby("0:0:5:0:0:0:1:2"), "0:0:5::1:2");
    }

    #[test]
    fn ip_anonymizer_readme() {
        let h = IpAnonymizer::new(b"secret", 1).unwrap();
        assert_eq!(h.hash("8.8.4.4").unwrap(), "6.128.151.207");
        assert_eq!(
            h.hash("2001:4860:4860:0:0:0:0:8844").unwrap(),
            "f6e4:a4fe:32dc:2f39:3e47:84cc:e85e:865c"
        );
        assert!(h.hash("fe80::1%eth0").is_err());
        assert!(IpAnonymizer::new(b"secret", 0).is_err());
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
    }

    #[test]
    fn keyed_tokens_are_index_values() {
        let ix = BlindIndexer::new(
            Algorithm::HmacSha256,
            vec![(1, SecretKey::from_slice(&[7u8; 32]).unwrap())],
            Keying::Separated,
            1,
            None,
            Some(64),
            OutputEncoding::Hex,
        )
        .unwrap();
        let s = Scrubber::new(&ScrubOptions::default()).unwrap();
        let out = s
            .scrub("mail a%40b.org now", FILTERED, Some(&ix))
            .unwrap()
            .into_owned();
        let want = String::from_utf8(ix.compute(None, b"a@b.org").unwrap()).unwrap();
        assert_eq!(out, format!("mail [FILTERED:{want}] now"));
    }

    #[test]
    fn long_texts_go_line_by_line() {
        let s = Scrubber::new(&ScrubOptions::default()).unwrap();
        let line = "user a@b.org paid\nnothing here\n";
        let text = line.repeat(20_000) + "tail 555-555-5555";
        let want = "user [FILTERED] paid\nnothing here\n".repeat(20_000) + "tail [FILTERED]";
        assert_eq!(s.scrub_text(&text, FILTERED, None).unwrap(), want);
        assert_eq!(s.scrub(&text, FILTERED, None).unwrap(), want);
        let clean = "nothing here\n".repeat(20_000);
        assert!(matches!(
            s.scrub_text(&clean, FILTERED, None).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn hostile_inputs_finish() {
        let long = "1".repeat(200_000) + &"@".repeat(100_000) + &".".repeat(100_000);
        let out = scrub_all(&long);
        assert_eq!(out.len(), long.len());
        let colons = ":a".repeat(100_000);
        let _ = scrub_all(&colons);
    }

    #[test]
    fn custom_patterns() {
        let o = ScrubOptions {
            patterns: vec![r"token=[A-Za-z0-9]+".into()],
            ..ScrubOptions::default()
        };
        let s = Scrubber::new(&o).unwrap();
        assert_eq!(
            s.scrub("a token=abc b", FILTERED, None).unwrap(),
            "a [FILTERED] b"
        );
        let bad = ScrubOptions {
            patterns: vec!["(".into()],
            ..ScrubOptions::default()
        };
        assert!(Scrubber::new(&bad).is_err());
    }
}
