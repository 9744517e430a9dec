//! attr_encrypted and the encryptor gem (3.x): AES-256-CBC with PKCS#7 padding
//! (AES-256-GCM, the default, is the ordinary one).

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey, AES_256,
};
use zeroize::Zeroizing;

use crate::core::error::{Error, Result};

fn iv16(iv: &[u8]) -> Result<[u8; 16]> {
    iv.try_into().map_err(|_| Error::NonceLength {
        expected: "16 bytes",
        got: iv.len(),
    })
}

fn key(key: &[u8]) -> Result<UnboundCipherKey> {
    if key.len() != 32 {
        return Err(Error::KeyLength {
            expected: "32 bytes",
            got: key.len(),
        });
    }
    UnboundCipherKey::new(&AES_256, key).map_err(|_| Error::Internal("AES key"))
}

/// AES-256-CBC with PKCS#7 padding (OpenSSL's `aes-256-cbc`).
pub fn cbc_encrypt(k: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let iv = iv16(iv)?;
    let enc =
        PaddedBlockEncryptingKey::cbc_pkcs7(key(k)?).map_err(|_| Error::Internal("CBC key"))?;
    let mut buf = plaintext.to_vec();
    enc.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv.into()))
        .map_err(|_| Error::Internal("CBC encrypt"))?;
    Ok(buf)
}

/// Undo [`cbc_encrypt`]; a wrong key, IV or padding is [`Error::Decrypt`].
pub fn cbc_decrypt(k: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let iv = iv16(iv).map_err(|_| Error::Decrypt)?;
    let dec =
        PaddedBlockDecryptingKey::cbc_pkcs7(key(k)?).map_err(|_| Error::Internal("CBC key"))?;
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(Error::Decrypt);
    }
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = dec
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| Error::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbc_round_trip_and_nist_block() {
        // SP 800-38A F.2.5 CBC-AES256, first block (then one block of padding).
        let k = hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
            .unwrap();
        let iv = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let ct = cbc_encrypt(&k, &iv, &pt).unwrap();
        assert_eq!(hex::encode(&ct[..16]), "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
        assert_eq!(ct.len(), 32);
        assert_eq!(cbc_decrypt(&k, &iv, &ct).unwrap().as_slice(), pt.as_slice());
        assert!(
            cbc_decrypt(&k, &iv, &ct[..16]).is_err()
                || cbc_decrypt(&k, &iv, &ct[..16]).unwrap().len() != 16
        );
        assert!(cbc_decrypt(&k, &iv, &ct[..15]).is_err());
        assert!(cbc_decrypt(&k, &iv[..8], &ct).is_err());
    }
}
