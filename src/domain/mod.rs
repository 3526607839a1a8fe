//! Pure product rules: no I/O, no clocks (callers pass `now`), fully unit-tested.

pub mod credits;
pub mod i18n;
pub mod ids;
pub mod images;
pub mod pricing;
pub mod tax;
pub mod tryon;
pub mod watermark;
