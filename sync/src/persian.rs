//! Persian text as Mahak's desktop program writes it and as customers type it.
//!
//! The desktop program often stores the Arabic letters `ي` (U+064A) and `ك` (U+0643) where
//! Persian uses `ی` (U+06CC) and `ک` (U+06A9); customers type Persian or Arabic-Indic digits,
//! and the zero-width non-joiner (ZWNJ) appears or not at a writer's whim. Display text is
//! normalized once at the edge; search folds both the stored text and the query the same way.

/// Normalizes text for display: Arabic yeh/kaf (and alef maksura) to their Persian forms.
/// Everything else is kept, including ZWNJ, which is correct Persian typography.
pub fn normalize_display(text: &str) -> String {
    text.chars()
        .map(persian_letter)
        .collect::<String>()
        .trim()
        .to_string()
}

fn persian_letter(c: char) -> char {
    match c {
        'ي' | 'ى' => 'ی',
        'ك' => 'ک',
        other => other,
    }
}

/// Folds text for search: Persian letter forms, Persian and Arabic-Indic digits to ASCII,
/// ZWNJ, tatweel and Arabic diacritics removed, teh marbuta and hamza-carrying alefs to their
/// plain letters, lower case, whitespace collapsed to single spaces.
pub fn fold_for_search(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        let c = match c {
            '\u{200C}' | '\u{200D}' | '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' => continue,
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            'ة' => 'ه',
            'أ' | 'إ' | 'ٱ' => 'ا',
            'ؤ' => 'و',
            other => persian_letter(other),
        };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_and_persian_letters_fold_together() {
        assert_eq!(fold_for_search("كيف"), fold_for_search("کیف"));
        assert_eq!(normalize_display(" كتاب علي "), "کتاب علی");
    }

    #[test]
    fn digits_fold_to_ascii() {
        assert_eq!(fold_for_search("گوشی ۱۲۸ گیگ"), "گوشی 128 گیگ");
        assert_eq!(fold_for_search("٣٤٥"), "345");
    }

    #[test]
    fn zwnj_and_diacritics_are_ignored() {
        assert_eq!(fold_for_search("می\u{200C}خواهم"), "میخواهم");
        assert_eq!(fold_for_search("كُتُب"), "کتب");
    }

    #[test]
    fn case_and_spacing_are_folded() {
        assert_eq!(fold_for_search("  Samsung\t  GALAXY  "), "samsung galaxy");
    }

    #[test]
    fn display_keeps_zwnj() {
        assert_eq!(normalize_display("می\u{200C}خواهم"), "می\u{200C}خواهم");
    }
}
