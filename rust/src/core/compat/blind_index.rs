//! The Ruby blind_index gem's index-key derivation.

use hmac::Mac;
use sha2::Sha384;
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::keys::SecretKey;
use crate::core::primitives::HmacSha256;
use crate::core::search::{pack, require_name};

/// The blind_index gem's index key (`BlindIndex::KeyGenerator#index_key`):
/// `root = HKDF-SHA384(ikm = master, salt = table, info = "~" * 32 || bidx_attribute, 32)`,
/// then `HMAC-SHA256(root, pack([table, bidx_attribute, bidx_attribute]))`.
pub fn gem_index_key(master: &SecretKey, table: &[u8], bidx_attribute: &[u8]) -> Result<SecretKey> {
    require_name("table", table)?;
    require_name("bidx_attribute", bidx_attribute)?;
    let mut info = Vec::with_capacity(32 + bidx_attribute.len());
    info.extend_from_slice(&[0x7e; 32]);
    info.extend_from_slice(bidx_attribute);
    let hk = hkdf::Hkdf::<Sha384>::new(Some(table), master.expose());
    let mut root = Zeroizing::new([0u8; 32]);
    hk.expand(&info, root.as_mut())
        .map_err(|_| Error::Invalid("HKDF output too long".into()))?;
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(root.as_ref())
        .map_err(|_| Error::Invalid("invalid key".into()))?;
    mac.update(&pack(&[table, bidx_attribute, bidx_attribute]));
    let key = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    SecretKey::from_slice(key.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gem_index_key_vector() {
        // blind_index test/blind_index_test.rb, test_index_key.
        let master = SecretKey::from_text(&"0".repeat(64)).unwrap();
        let k = gem_index_key(&master, b"users", b"email_bidx").unwrap();
        assert_eq!(
            hex::encode(k.expose()),
            "289737bab72fa97b1f4b081cef00d7b7d75034bcf3183c363feaf3e6441777bc"
        );
        assert!(gem_index_key(&master, b"", b"email_bidx").is_err());
    }
}
