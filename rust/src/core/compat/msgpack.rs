//! The part of MessagePack that Rails' `MessagePackMessageSerializer` writes
//! (through `ActiveSupport::MessagePack`): maps, strings, binary strings,
//! booleans, nil, integers, floats and Symbols (extension type 0). Reading is
//! bounded: every length is checked against the bytes left before it is used,
//! nesting is limited, and other extension types are refused.

use crate::core::error::{Error, Result};

/// Deeper documents are refused (a Rails message nests four maps).
pub const MAX_DEPTH: usize = 16;

/// The extension type ActiveSupport gives Ruby Symbols.
pub const EXT_SYMBOL: i8 = 0;

#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// A msgpack `str` (Ruby: a UTF-8 String).
    Str(&'a [u8]),
    /// A msgpack `bin` (Ruby: a binary String).
    Bin(&'a [u8]),
    /// Extension type 0: a Symbol's name.
    Symbol(&'a [u8]),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The bytes of a str, bin or Symbol.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Str(b) | Value::Bin(b) | Value::Symbol(b) => Some(b),
            _ => None,
        }
    }

    /// The value of the last entry whose key's bytes are `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.bytes() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Read one value from `input`, which must hold nothing else.
pub fn read_all(input: &[u8]) -> Result<Value<'_>> {
    let mut r = Reader { s: input, i: 0 };
    let v = r.value(0)?;
    if r.i != input.len() {
        return Err(Error::Decrypt);
    }
    Ok(v)
}

/// Read one value from the start of `input`; returns it and the bytes after it.
pub fn read_one(input: &[u8]) -> Result<(Value<'_>, &[u8])> {
    let mut r = Reader { s: input, i: 0 };
    let v = r.value(0)?;
    let rest = input.get(r.i..).ok_or(Error::Decrypt)?;
    Ok((v, rest))
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.i.checked_add(n).ok_or(Error::Decrypt)?;
        let out = self.s.get(self.i..end).ok_or(Error::Decrypt)?;
        self.i = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(*self.take(1)?.first().ok_or(Error::Decrypt)?)
    }

    fn uint(&mut self, n: usize) -> Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> Result<usize> {
        usize::try_from(self.uint(n)?).map_err(|_| Error::Decrypt)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(Error::Decrypt);
        }
        let tag = self.byte()?;
        Ok(match tag {
            0x00..=0x7f => Value::Int(i128::from(tag)),
            0x80..=0x8f => self.map(usize::from(tag & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(tag & 0x0f), depth)?,
            0xa0..=0xbf => Value::Str(self.take(usize::from(tag & 0x1f))?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.len(1)?;
                Value::Bin(self.take(n)?)
            }
            0xc5 => {
                let n = self.len(2)?;
                Value::Bin(self.take(n)?)
            }
            0xc6 => {
                let n = self.len(4)?;
                Value::Bin(self.take(n)?)
            }
            0xc7 => {
                let n = self.len(1)?;
                self.ext(n)?
            }
            0xc8 => {
                let n = self.len(2)?;
                self.ext(n)?
            }
            0xc9 => {
                let n = self.len(4)?;
                self.ext(n)?
            }
            0xca => {
                let bits = u32::try_from(self.uint(4)?).map_err(|_| Error::Decrypt)?;
                Value::Float(f64::from(f32::from_bits(bits)))
            }
            0xcb => Value::Float(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Int(i128::from(self.uint(1)?)),
            0xcd => Value::Int(i128::from(self.uint(2)?)),
            0xce => Value::Int(i128::from(self.uint(4)?)),
            0xcf => Value::Int(i128::from(self.uint(8)?)),
            0xd0 => Value::Int(i128::from(self.uint(1)? as u8 as i8)),
            0xd1 => Value::Int(i128::from(self.uint(2)? as u16 as i16)),
            0xd2 => Value::Int(i128::from(self.uint(4)? as u32 as i32)),
            0xd3 => Value::Int(i128::from(self.uint(8)? as i64)),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let n = self.len(1)?;
                Value::Str(self.take(n)?)
            }
            0xda => {
                let n = self.len(2)?;
                Value::Str(self.take(n)?)
            }
            0xdb => {
                let n = self.len(4)?;
                Value::Str(self.take(n)?)
            }
            0xdc => {
                let n = self.len(2)?;
                self.array(n, depth)?
            }
            0xdd => {
                let n = self.len(4)?;
                self.array(n, depth)?
            }
            0xde => {
                let n = self.len(2)?;
                self.map(n, depth)?
            }
            0xdf => {
                let n = self.len(4)?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i128::from(tag as i8)),
            // 0xc1 is never used.
            _ => return Err(Error::Decrypt),
        })
    }

    fn ext(&mut self, n: usize) -> Result<Value<'a>> {
        let kind = self.byte()? as i8;
        let data = self.take(n)?;
        if kind != EXT_SYMBOL {
            return Err(Error::Decrypt);
        }
        Ok(Value::Symbol(data))
    }

    fn left(&self) -> usize {
        self.s.len().saturating_sub(self.i)
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value<'a>> {
        // Each item takes at least one byte: a count past the bytes left is a lie.
        if n > self.left() {
            return Err(Error::Decrypt);
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value<'a>> {
        if n > self.left() / 2 {
            return Err(Error::Decrypt);
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

/// Writers for the same subset, as msgpack-ruby packs each value (the
/// shortest form).
pub mod write {
    fn len_header(out: &mut Vec<u8>, len: usize, fix: Option<(u8, usize)>, codes: [u8; 3]) {
        match fix {
            Some((base, max)) if len <= max => out.push(base | len as u8),
            _ if len <= 0xff && codes[0] != 0 => {
                out.push(codes[0]);
                out.push(len as u8);
            }
            _ if len <= 0xffff => {
                out.push(codes[1]);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(codes[2]);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
        }
    }

    pub fn map(out: &mut Vec<u8>, len: usize) {
        len_header(out, len, Some((0x80, 15)), [0, 0xde, 0xdf]);
    }

    pub fn str(out: &mut Vec<u8>, bytes: &[u8]) {
        len_header(out, bytes.len(), Some((0xa0, 31)), [0xd9, 0xda, 0xdb]);
        out.extend_from_slice(bytes);
    }

    pub fn bin(out: &mut Vec<u8>, bytes: &[u8]) {
        len_header(out, bytes.len(), None, [0xc4, 0xc5, 0xc6]);
        out.extend_from_slice(bytes);
    }

    pub fn bool(out: &mut Vec<u8>, v: bool) {
        out.push(if v { 0xc3 } else { 0xc2 });
    }

    /// A Symbol: extension type 0 holding its name.
    pub fn symbol(out: &mut Vec<u8>, name: &[u8]) {
        match name.len() {
            1 => out.push(0xd4),
            2 => out.push(0xd5),
            4 => out.push(0xd6),
            8 => out.push(0xd7),
            16 => out.push(0xd8),
            n if n <= 0xff => {
                out.push(0xc7);
                out.push(n as u8);
            }
            n if n <= 0xffff => {
                out.push(0xc8);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0xc9);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
        out.push(super::EXT_SYMBOL as u8);
        out.extend_from_slice(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_subset() {
        let mut out = Vec::new();
        write::map(&mut out, 3);
        write::str(&mut out, b"p");
        write::bin(&mut out, &[7u8; 300]);
        write::symbol(&mut out, b"iv");
        write::bool(&mut out, true);
        write::str(&mut out, &[b'x'; 40]);
        write::str(&mut out, b"");
        assert_eq!(&out[..4], &[0x83, 0xa1, b'p', 0xc5]);
        let v = read_all(&out).unwrap();
        assert_eq!(v.get(b"p"), Some(&Value::Bin(&[7u8; 300])));
        assert_eq!(v.get(b"iv"), Some(&Value::Bool(true)));
        assert_eq!(v.get(&[b'x'; 40]), Some(&Value::Str(b"")));
        let mut sym = Vec::new();
        write::symbol(&mut sym, b"iv");
        assert_eq!(sym, [0xd5, 0x00, b'i', b'v']);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            &b""[..],
            b"\xc1",
            b"\xc4\x05abc",
            b"\xdf\xff\xff\xff\xff",
            b"\xdd\xff\xff\xff\xff",
            b"\xd4\x01a",
            b"\x81\xa1p",
            b"\xc3\xc3",
        ] {
            assert!(read_all(bad).is_err(), "{bad:?}");
        }
        let deep = vec![0x91u8; MAX_DEPTH + 2];
        assert!(read_all(&deep).is_err());
        assert_eq!(read_all(b"\xcc\x80").unwrap(), Value::Int(128));
        assert_eq!(read_all(b"\xd0\xff").unwrap(), Value::Int(-1));
    }
}
