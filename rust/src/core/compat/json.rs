//! A small, bounded JSON reader for other libraries' messages (RFC 8259).
//!
//! It parses a whole document into borrowed values: strings without escapes
//! are slices of the input, numbers stay as their text. Nesting is limited to
//! [`MAX_DEPTH`], trailing bytes other than whitespace are refused, and no
//! length is trusted: every byte is read once, in bounds. Duplicate object keys
//! are kept; [`Json::get`] returns the last one, as Ruby's `JSON.parse` does.

use std::borrow::Cow;

use crate::core::error::{Error, Result};

/// Deeper documents are refused: no message nests more than four objects.
pub const MAX_DEPTH: usize = 16;

/// One JSON value.
#[derive(Debug, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text, checked against the grammar.
    Number(&'a [u8]),
    /// The string's UTF-8 bytes, escapes resolved.
    Str(Cow<'a, [u8]>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, [u8]>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The value of `key` in an object (the last one, if repeated).
    pub fn get(&self, key: &[u8]) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// An object's members with repeated keys resolved to their last value,
    /// in the order of their first appearance.
    pub fn members(&self) -> Option<Vec<(&[u8], &Json<'a>)>> {
        let Json::Object(members) = self else {
            return None;
        };
        let mut out: Vec<(&[u8], &Json<'a>)> = Vec::with_capacity(members.len());
        for (k, v) in members {
            match out.iter_mut().find(|(seen, _)| *seen == k.as_ref()) {
                Some(slot) => slot.1 = v,
                None => out.push((k.as_ref(), v)),
            }
        }
        Some(out)
    }
}

/// Parse one JSON document (surrounding whitespace allowed).
pub fn parse(input: &[u8]) -> Result<Json<'_>> {
    let mut p = Parser { s: input, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != input.len() {
        return Err(Error::Decrypt);
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Result<u8> {
        let b = self.peek().ok_or(Error::Decrypt)?;
        self.i += 1;
        Ok(b)
    }

    fn expect(&mut self, b: u8) -> Result<()> {
        if self.bump()? == b {
            Ok(())
        } else {
            Err(Error::Decrypt)
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        let end = self.i.checked_add(word.len()).ok_or(Error::Decrypt)?;
        if self.s.get(self.i..end) != Some(word) {
            return Err(Error::Decrypt);
        }
        self.i = end;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>> {
        match self.peek().ok_or(Error::Decrypt)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Ok(Json::Str(self.string()?)),
            b't' => self.literal(b"true").map(|()| Json::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Json::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Error::Decrypt),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>> {
        if depth > MAX_DEPTH {
            return Err(Error::Decrypt);
        }
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(Error::Decrypt);
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.ws();
            match self.bump()? {
                b',' => continue,
                b'}' => return Ok(Json::Object(members)),
                _ => return Err(Error::Decrypt),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>> {
        if depth > MAX_DEPTH {
            return Err(Error::Decrypt);
        }
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.bump()? {
                b',' => continue,
                b']' => return Ok(Json::Array(items)),
                _ => return Err(Error::Decrypt),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json<'a>> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Error::Decrypt),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Error::Decrypt);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Error::Decrypt);
            }
        }
        let text = self.s.get(start..self.i).ok_or(Error::Decrypt)?;
        Ok(Json::Number(text))
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.bump()? {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Error::Decrypt),
            };
            v = (v << 4) | u32::from(d);
        }
        Ok(v)
    }

    /// A string: borrowed when it has no escapes. Control characters are
    /// refused and the text must be UTF-8; a lone surrogate escape is refused.
    fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        self.expect(b'"')?;
        let start = self.i;
        loop {
            match self.peek().ok_or(Error::Decrypt)? {
                b'"' => {
                    let raw = self.s.get(start..self.i).ok_or(Error::Decrypt)?;
                    self.i += 1;
                    std::str::from_utf8(raw).map_err(|_| Error::Decrypt)?;
                    return Ok(Cow::Borrowed(raw));
                }
                b'\\' => break,
                0x00..=0x1f => return Err(Error::Decrypt),
                _ => self.i += 1,
            }
        }
        let mut out = self.s.get(start..self.i).ok_or(Error::Decrypt)?.to_vec();
        loop {
            match self.bump()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.bump()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                self.literal(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(Error::Decrypt);
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or(Error::Decrypt)?
                        }
                        _ => return Err(Error::Decrypt),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(Error::Decrypt),
                b => out.push(b),
            }
        }
        std::str::from_utf8(&out).map_err(|_| Error::Decrypt)?;
        Ok(Cow::Owned(out))
    }
}

/// Append `bytes` as a JSON string. Only used for text the writers make
/// (base64, key names), which never needs more than `"` and `\` escaped.
pub fn write_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents() {
        let v = parse(br#" {"p":"abc","h":{"iv":"x\/y","n":-1.5e3,"t":true,"z":null,"a":[1,2]}} "#)
            .unwrap();
        assert_eq!(v.get(b"p"), Some(&Json::Str(Cow::Borrowed(b"abc"))));
        let h = v.get(b"h").unwrap();
        assert_eq!(h.get(b"iv"), Some(&Json::Str(Cow::Owned(b"x/y".to_vec()))));
        assert_eq!(h.get(b"n"), Some(&Json::Number(b"-1.5e3")));
        assert_eq!(h.get(b"t"), Some(&Json::Bool(true)));
        assert_eq!(h.get(b"z"), Some(&Json::Null));
        assert_eq!(
            parse(br#""\u00e9\ud83d\ude00""#).unwrap(),
            Json::Str(Cow::Owned("é😀".as_bytes().to_vec()))
        );
        // The last of repeated keys wins, as in Ruby.
        assert_eq!(
            parse(br#"{"a":1,"a":2}"#).unwrap().get(b"a"),
            Some(&Json::Number(b"2"))
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"[1,]",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"\"\\ud800\"",
            b"\"\\x\"",
            b"\"a\nb\"",
            b"\"\xff\"",
            b"{} x",
            b"tru",
            b"{'a':1}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn writes_strings() {
        let mut out = Vec::new();
        write_str(&mut out, b"a\"b\\c\x01");
        assert_eq!(out, b"\"a\\\"b\\\\c\\u0001\"");
    }
}
