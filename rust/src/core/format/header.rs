//! The 6-byte header every v1 message starts with, the suites and their field sizes.

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 6;
pub const COMMIT_LEN: usize = 24;
pub const SALT_LEN: usize = 16;
pub const XNONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// The algorithm suites of message format v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-256-GCM with a per-message subkey and a key commitment (the default).
    Aes256Gcm,
    /// XChaCha20-Poly1305 with a random 192-bit nonce and a key commitment.
    XChaCha20Poly1305,
    /// AES-256-SIV (RFC 5297): deterministic, with a key commitment.
    Aes256Siv,
}

impl Suite {
    pub const COUNT: usize = 3;
    pub const ALL: [Suite; Suite::COUNT] =
        [Suite::Aes256Gcm, Suite::XChaCha20Poly1305, Suite::Aes256Siv];

    pub const fn id(self) -> u8 {
        match self {
            Suite::Aes256Gcm => 1,
            Suite::XChaCha20Poly1305 => 2,
            Suite::Aes256Siv => 3,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Suite::Aes256Gcm),
            2 => Some(Suite::XChaCha20Poly1305),
            3 => Some(Suite::Aes256Siv),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes-256-gcm",
            Suite::XChaCha20Poly1305 => "xchacha20-poly1305",
            Suite::Aes256Siv => "aes-256-siv",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    pub const fn is_deterministic(self) -> bool {
        matches!(self, Suite::Aes256Siv)
    }

    /// The suite for an algorithm name (None: the default) and a wish for
    /// deterministic encryption: AES-256-GCM by default, AES-256-SIV when
    /// deterministic.
    pub fn choose(
        name: Option<&str>,
        deterministic: bool,
    ) -> std::result::Result<Self, SuiteChoice> {
        match (name.map(|n| (n, Suite::from_name(n))), deterministic) {
            (None, false) => Ok(Suite::Aes256Gcm),
            (None, true) | (Some((_, Some(Suite::Aes256Siv))), true) => Ok(Suite::Aes256Siv),
            (Some((_, Some(Suite::Aes256Siv))), false) => Err(SuiteChoice::SivIsDeterministic),
            (Some((_, Some(suite))), false) => Ok(suite),
            (Some((_, Some(_))), true) => Err(SuiteChoice::NotDeterministic),
            (Some((_, None)), _) => Err(SuiteChoice::Unknown),
        }
    }
}

/// Why `Suite::choose` refused a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteChoice {
    /// AES-256-SIV named without asking for deterministic encryption.
    SivIsDeterministic,
    /// A randomized suite named together with deterministic encryption.
    NotDeterministic,
    /// No suite has this name.
    Unknown,
}

impl Suite {
    /// Bytes of nonce or salt after the header.
    pub const fn nonce_len(self) -> usize {
        match self {
            Suite::Aes256Gcm => SALT_LEN,
            Suite::XChaCha20Poly1305 => XNONCE_LEN,
            Suite::Aes256Siv => 0,
        }
    }

    /// Bytes before the ciphertext: header, nonce, commitment (and SIV).
    pub const fn prefix_len(self) -> usize {
        match self {
            Suite::Aes256Siv => HEADER_LEN + COMMIT_LEN + TAG_LEN,
            _ => HEADER_LEN + self.nonce_len() + COMMIT_LEN,
        }
    }

    /// Bytes a binary message adds to the plaintext.
    pub const fn overhead(self) -> usize {
        match self {
            Suite::Aes256Siv => self.prefix_len(),
            _ => self.prefix_len() + TAG_LEN,
        }
    }
}

/// The 6-byte header of a message under `suite` and `key_id`.
pub fn header(suite: Suite, key_id: u32) -> [u8; HEADER_LEN] {
    let id = key_id.to_be_bytes();
    [VERSION, suite.id(), id[0], id[1], id[2], id[3]]
}
