//! Cleaning text that users (or Telegram, on their behalf) send, before it is stored, shown or
//! sent to a paid provider. PostgreSQL refuses NUL in `text`, terminals and logs misbehave on
//! other control characters, and bidirectional overrides can make a shown text lie about its
//! order; none of them carries meaning in a chat message, a prompt or a name.

/// Removes NUL and other control characters (keeping newlines and tabs), the Unicode
/// replacement left by invalid escapes, zero-width and bidirectional override/isolate marks;
/// folds runs of blank lines; trims. The result contains nothing PostgreSQL or a provider
/// would refuse.
pub fn clean(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut newlines = 0u32;
    for c in input.chars() {
        let keep = match c {
            '\n' => {
                newlines += 1;
                newlines <= 2
            }
            '\t' => true,
            '\r' => false,
            c if c.is_control() => false,
            // zero-width characters and bidi embedding/override/isolate controls
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' => {
                false
            }
            '\u{FEFF}' | '\u{FFFD}' | '\u{FFFE}' | '\u{FFFF}' => false,
            _ => true,
        };
        if c != '\n' && !c.is_whitespace() {
            newlines = 0;
        }
        if keep {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong,
}

/// [`clean`]s `input` and requires 1..=`max_chars` characters.
pub fn require(input: &str, max_chars: usize) -> Result<String, TextError> {
    // A bound before the work: a 100 MB string is refused without walking it char by char.
    if input.len() > max_chars.saturating_mul(4).saturating_add(1024) {
        return Err(TextError::TooLong);
    }
    let cleaned = clean(input);
    match cleaned.chars().count() {
        0 => Err(TextError::Empty),
        n if n > max_chars => Err(TextError::TooLong),
        _ => Ok(cleaned),
    }
}

/// [`clean`]s a name or label and cuts it to `max_chars` (Telegram names are not ours to refuse).
pub fn clip(input: &str, max_chars: usize) -> String {
    clean(input).chars().take(max_chars).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_and_direction_marks_are_dropped() {
        assert_eq!(clean("x \u{0000}"), "x");
        assert_eq!(clean("a\u{202E}b\u{2066}c\u{200B}d"), "abcd");
        assert_eq!(clean("  line one\r\n\n\n\n\nline two  "), "line one\n\nline two");
        assert_eq!(clean("tab\there"), "tab\there");
        assert_eq!(clean("\u{FFFD}"), "");
    }

    #[test]
    fn require_counts_characters_not_bytes() {
        assert_eq!(require("привет", 6), Ok("привет".to_string()));
        assert_eq!(require("привет!", 6), Err(TextError::TooLong));
        assert_eq!(require(" \u{0000} ", 6), Err(TextError::Empty));
        assert_eq!(require(&"x".repeat(100_000), 2000), Err(TextError::TooLong));
    }

    proptest! {
        #[test]
        fn cleaned_text_has_no_nul_and_no_controls_but_newline_and_tab(s in any::<String>()) {
            let c = clean(&s);
            prop_assert!(!c.contains('\0'));
            prop_assert!(c.chars().all(|ch| !ch.is_control() || ch == '\n' || ch == '\t'));
            prop_assert_eq!(clean(&c), c.clone(), "cleaning is idempotent");
        }

        #[test]
        fn clip_never_exceeds_its_bound(s in any::<String>(), n in 0usize..100) {
            prop_assert!(clip(&s, n).chars().count() <= n);
        }
    }
}
