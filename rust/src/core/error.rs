//! The one error type of the core.

use std::fmt;

/// Everything that can go wrong in the core.
///
/// `Decrypt` is deliberately opaque: a wrong key, a wrong context, a tampered,
/// truncated or extended message, an unknown key id and bytes that are not a
/// message at all are indistinguishable to the caller.
#[derive(Clone, PartialEq, Eq)]
pub enum Error {
    /// Any failure to open or parse a message.
    Decrypt,
    /// A key of the wrong length (`expected` names the accepted sizes).
    KeyLength { expected: &'static str, got: usize },
    /// A nonce of the wrong length.
    NonceLength { expected: &'static str, got: usize },
    /// A misuse the caller can fix; the text says what was expected.
    Invalid(String),
    /// The operating system's random number generator failed.
    Random,
    /// Reading or writing a file failed: the operating system's error code and
    /// text, and the file's path.
    Io {
        code: Option<i32>,
        message: String,
        path: String,
    },
    /// A state the code rules out was reached: a bug in sealbox, never a
    /// property of the input. Never returned for a failed decryption.
    Internal(&'static str),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Decrypt => f.write_str("decryption failed"),
            Error::KeyLength { expected, got } => {
                write!(f, "key must be {expected}, got {got} bytes")
            }
            Error::NonceLength { expected, got } => {
                write!(f, "nonce must be {expected}, got {got} bytes")
            }
            Error::Invalid(msg) => f.write_str(msg),
            Error::Random => f.write_str("the operating system's random number generator failed"),
            Error::Io {
                code,
                message,
                path,
            } => match code {
                Some(code) => write!(f, "[Errno {code}] {message}: {path:?}"),
                None => write!(f, "{message}: {path:?}"),
            },
            Error::Internal(what) => {
                write!(f, "internal error in sealbox ({what}); please report it")
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
