//! One-time, short-lived WebSocket tickets, so the session token never travels in a URL (where
//! proxies and access logs keep it). `POST /api/ws/ticket` (with the JWT in the header) returns
//! `user.jwt_exp.ver.expires.nonce.sig`, HMAC-SHA-256-signed with a key derived from the JWT
//! secret; `/ws?ticket=` accepts it once, until `expires` (30 s). Stateless, so any node of a
//! cluster can check it; "once" is kept by the node that sees it (nonces remembered until they
//! expire), which bounds a replay to another node within those seconds.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::domain::ids::UserId;

type HmacSha256 = Hmac<Sha256>;

/// What a valid ticket stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub user: UserId,
    /// The expiry of the session token it was issued for (the socket closes 4001 then).
    pub jwt_exp: i64,
    /// The token version of that session token (checked like the token's).
    pub ver: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is malformed or its signature is wrong")]
    Invalid,
    #[error("the ticket expired")]
    Expired,
    #[error("the ticket was used already")]
    Used,
}

pub struct WsTickets {
    /// The MAC keyed once at start-up; each ticket signs with a clone (nothing to fail per request).
    keyed: HmacSha256,
    ttl_secs: i64,
    used: DashMap<String, Instant>,
}

impl WsTickets {
    pub fn new(jwt_secret: &SecretString, ttl_secs: i64) -> Self {
        let mut mac =
            HmacSha256::new_from_slice(jwt_secret.expose_secret().as_bytes()).expect("HMAC takes any key length");
        mac.update(b"ws-ticket-key");
        let key = mac.finalize().into_bytes();
        let keyed = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        WsTickets { keyed, ttl_secs, used: DashMap::new() }
    }

    fn sign(&self, body: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(body.as_bytes());
        mac
    }

    /// A ticket for `ticket`, valid from `now_unix` for the configured seconds.
    pub fn issue(&self, ticket: Ticket, now_unix: i64) -> (String, i64) {
        let expires = now_unix + self.ttl_secs;
        let nonce: [u8; 16] = rand::random();
        let body = format!("{}.{}.{}.{}.{}", ticket.user.0, ticket.jwt_exp, ticket.ver, expires, hex::encode(nonce));
        let sig = hex::encode(self.sign(&body).finalize().into_bytes());
        (format!("{body}.{sig}"), expires)
    }

    /// Checks and uses up a ticket.
    pub fn redeem(&self, raw: &str, now_unix: i64) -> Result<Ticket, TicketError> {
        let (body, sig) = raw.rsplit_once('.').ok_or(TicketError::Invalid)?;
        let given = hex::decode(sig).map_err(|_| TicketError::Invalid)?;
        self.sign(body).verify_slice(&given).map_err(|_| TicketError::Invalid)?;
        let parts: Vec<&str> = body.split('.').collect();
        let [user, jwt_exp, ver, expires, nonce] = parts.as_slice() else { return Err(TicketError::Invalid) };
        let parse = |s: &str| s.parse::<i64>().map_err(|_| TicketError::Invalid);
        let (user, jwt_exp, expires) = (parse(user)?, parse(jwt_exp)?, parse(expires)?);
        let ver = ver.parse::<i32>().map_err(|_| TicketError::Invalid)?;
        if now_unix > expires || now_unix > jwt_exp {
            return Err(TicketError::Expired);
        }
        let keep = Duration::from_secs(u64::try_from(expires - now_unix).unwrap_or(0) + 1);
        let fresh = match self.used.entry((*nonce).to_string()) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(slot) => {
                slot.insert(Instant::now() + keep);
                true
            }
        };
        if !fresh {
            return Err(TicketError::Used);
        }
        Ok(Ticket { user: UserId(user), jwt_exp, ver })
    }

    /// Forgets used nonces whose tickets expired (call periodically).
    pub fn prune(&self) {
        let now = Instant::now();
        self.used.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_once_until_it_expires_and_cannot_be_forged() {
        let tickets = WsTickets::new(&SecretString::from("a-jwt-secret-for-tests-0123456789abcdef"), 30);
        let ticket = Ticket { user: UserId(42), jwt_exp: 2_000, ver: 3 };
        let (raw, expires) = tickets.issue(ticket, 1_000);
        assert_eq!(expires, 1_030);
        assert_eq!(tickets.redeem(&raw, 1_010), Ok(ticket));
        assert_eq!(tickets.redeem(&raw, 1_011), Err(TicketError::Used));
        let (late, _) = tickets.issue(ticket, 1_000);
        assert_eq!(tickets.redeem(&late, 1_031), Err(TicketError::Expired));
        let (other, _) = tickets.issue(ticket, 1_000);
        let forged = other.replacen("42.", "43.", 1);
        assert_eq!(tickets.redeem(&forged, 1_001), Err(TicketError::Invalid));
        assert_eq!(tickets.redeem("garbage", 1_001), Err(TicketError::Invalid));
        let elsewhere = WsTickets::new(&SecretString::from("another-secret-0123456789abcdef0123"), 30);
        assert_eq!(elsewhere.redeem(&other, 1_001), Err(TicketError::Invalid));
    }
}
