//! Who is calling: Telegram initData validation and our own short-lived JWTs.

pub mod init_data;
pub mod jwt;
pub mod recent;
pub mod return_link;
pub mod revocation;
pub mod ws_ticket;
