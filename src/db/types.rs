//! Statuses and kinds stored as `text` columns, typed: each is a Rust enum that encodes to and
//! decodes from its snake_case name (the names the columns' `check` constraints list), so a
//! typo is a compile error and an unexpected value a decode error, never a silent string.

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::errors::ErrorCode;

/// Implements `sqlx::Type`/`Encode`/`Decode` for a type with `as_str()` and `parse()`, as text.
macro_rules! text_type {
    ($ty:ty) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as Decode<Postgres>>::decode(value)?;
                <$ty>::parse(s).ok_or_else(|| format!("unexpected {} value {s:?}", stringify!($ty)).into())
            }
        }
    };
}

/// Defines a text enum with its wire names.
macro_rules! text_enum {
    ($(#[doc = $doc:literal])* $name:ident in $file:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
        #[serde(rename_all = "snake_case")]
        #[ts(export_to = $file)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        text_type!($name);
    };
}

text_enum! {
    /// Where a generation is (DESIGN §3): `queued` → `submitted` (a kie.ai task exists) →
    /// `running` → `succeeded` | `failed`.
    GenerationStatus in "GenerationStatus.ts" {
        Queued = "queued",
        Submitted = "submitted",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

impl GenerationStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, GenerationStatus::Succeeded | GenerationStatus::Failed)
    }
}

text_enum! {
    /// What a generation makes.
    GenerationKind in "GenerationKind.ts" {
        Tryon = "tryon",
        Edit = "edit",
    }
}

impl GenerationKind {
    /// The ledger's purpose for this kind's hold (shown in the credit history).
    pub fn purpose(self) -> &'static str {
        self.as_str()
    }
}

text_enum! {
    /// A payment's state: granted exactly once when it becomes `succeeded`.
    PaymentStatus in "PaymentStatus.ts" {
        Pending = "pending",
        Succeeded = "succeeded",
        Canceled = "canceled",
        Refunded = "refunded",
    }
}

text_enum! {
    /// How a payment is made.
    PaymentProvider in "PaymentProvider.ts" {
        Yookassa = "yookassa",
        Stars = "stars",
    }
}

text_enum! {
    /// A plan's state: `active` (renewing), `canceled` (runs to its period's end, then ends),
    /// `past_due` (a renewal failed; retried), `lapsed` (ended), `replaced` (another plan
    /// bought while it ran).
    SubscriptionStatus in "SubscriptionStatus.ts" {
        Active = "active",
        Canceled = "canceled",
        PastDue = "past_due",
        Lapsed = "lapsed",
        Replaced = "replaced",
    }
}

text_type!(ErrorCode);

/// Stores an id newtype of `domain::ids` as its inner value (`domain/` knows no database).
macro_rules! transparent_type {
    ($ty:ty, $inner:ty) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <$inner as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <$inner as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <$inner as Encode<Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self(<$inner as Decode<Postgres>>::decode(value)?))
            }
        }

        impl sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> PgTypeInfo {
                <$inner as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
    };
}

transparent_type!(crate::domain::ids::UserId, i64);
transparent_type!(crate::domain::ids::HoldId, uuid::Uuid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [GenerationStatus::Queued, GenerationStatus::Failed] {
            assert_eq!(GenerationStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(SubscriptionStatus::parse("past_due"), Some(SubscriptionStatus::PastDue));
        assert_eq!(PaymentStatus::parse("nope"), None);
    }
}
