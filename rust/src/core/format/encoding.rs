//! The two encodings of a message: binary, and URL-safe text (unpadded base64url).

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::core::error::{Error, Result};
use crate::core::format::header::VERSION;

/// Binary or URL-safe text (unpadded base64url of the binary form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Binary,
    Text,
}

impl Encoding {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "binary" => Some(Encoding::Binary),
            "text" => Some(Encoding::Text),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Binary => "binary",
            Encoding::Text => "text",
        }
    }
}

/// Text form of a binary message.
pub fn encode_text(binary: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(binary)
}

/// Length of the text form of a binary message of `len` bytes.
pub fn text_len(len: usize) -> usize {
    len / 3 * 4
        + match len % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Length of the binary message whose text form is `len` bytes (the inverse of
/// [`text_len`]); `None` for a length no text form has.
pub fn binary_len(len: usize) -> Option<usize> {
    (len % 4 != 1).then_some(len / 4 * 3 + (len % 4).saturating_sub(1))
}

/// Write the text form of `binary` into `out` (exactly `text_len(binary.len())` bytes).
pub fn encode_text_into(binary: &[u8], out: &mut [u8]) -> Result<()> {
    let n = URL_SAFE_NO_PAD
        .encode_slice(binary, out)
        .map_err(|_| Error::Invalid("output buffer has the wrong length".into()))?;
    if n != out.len() {
        return Err(Error::Invalid("output buffer has the wrong length".into()));
    }
    Ok(())
}

/// The encoding a message is given in: binary when it starts with the
/// version byte, which is never a base64url character, else text.
pub fn encoding_of(input: &[u8]) -> Encoding {
    if input.first() == Some(&VERSION) {
        Encoding::Binary
    } else {
        Encoding::Text
    }
}

/// The binary form of a message in either encoding. A binary message starts
/// with the version byte 0x01, which is never a base64url character.
pub fn decode(input: &[u8]) -> Result<Cow<'_, [u8]>> {
    match input.first() {
        Some(&VERSION) => Ok(Cow::Borrowed(input)),
        Some(_) => URL_SAFE_NO_PAD
            .decode(input)
            .map(Cow::Owned)
            .map_err(|_| Error::Decrypt),
        None => Err(Error::Decrypt),
    }
}
