//! The payment return link: YooKassa sends the payer back to
//! `/plans?payment=<id>&sig=<hex>`, often in a browser where nobody is logged in (the checkout
//! opens outside Telegram). The signature (HMAC-SHA-256 of the payment id with the media signing
//! key) lets that page read the payment's outcome without a login, and only for a link the
//! server itself made: ids alone are not enough.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &SecretString, payment: Uuid) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes()).expect("HMAC takes any key length");
    // A label keeps these tags apart from the media links signed with the same key.
    mac.update(b"payment-return\n");
    mac.update(payment.as_bytes());
    mac
}

/// The signature carried by the return link (lowercase hex).
pub fn sign(key: &SecretString, payment: Uuid) -> String {
    hex::encode(mac(key, payment).finalize().into_bytes())
}

/// Constant-time check of a signature from a return link.
pub fn verify(key: &SecretString, payment: Uuid, sig: &str) -> bool {
    hex::decode(sig).is_ok_and(|given| mac(key, payment).verify_slice(&given).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_fits_only_its_payment_and_key() {
        let key = SecretString::from("media-key");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sig = sign(&key, a);
        assert_eq!(sig.len(), 64);
        assert!(verify(&key, a, &sig));
        assert!(verify(&key, a, &sig.to_uppercase()), "hex in either case");
        assert!(!verify(&key, b, &sig), "another payment");
        assert!(!verify(&SecretString::from("other-key"), a, &sig), "another key");
        for bad in ["", "zz", &sig[..62], &format!("{sig}00")] {
            assert!(!verify(&key, a, bad), "{bad:?}");
        }
    }
}
