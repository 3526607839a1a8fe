//! Pure product rules: no I/O, no clocks (callers pass `now`), fully unit-tested.

pub mod assistant;
pub mod chat;
pub mod credits;
pub mod errors;
pub mod faces;
pub mod i18n;
pub mod ids;
pub mod images;
pub mod legal;
pub mod pricing;
pub mod tax;
pub mod text;
pub mod tryon;
pub mod watermark;
