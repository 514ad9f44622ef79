//! Iranian mobile numbers in every form people type them, to E.164 (`+989121234567`).

/// Normalizes `09121234567`, `9121234567`, `+989121234567`, `00989121234567`,
/// `989121234567`, with Persian or Arabic-Indic digits and spaces, dashes, dots or
/// parentheses in between. Anything that is not an Iranian mobile number is `None`.
pub fn iran_mobile_e164(text: &str) -> Option<String> {
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for (i, c) in text.trim().chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '۰'..='۹' => digits.push(char::from(b'0' + (c as u32 - '۰' as u32) as u8)),
            '٠'..='٩' => digits.push(char::from(b'0' + (c as u32 - '٠' as u32) as u8)),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '\u{200C}' => {}
            _ => return None,
        }
    }
    let national = if plus {
        digits.strip_prefix("98")?
    } else if let Some(rest) = digits.strip_prefix("0098") {
        rest
    } else if let Some(rest) = digits.strip_prefix("98").filter(|r| r.len() == 10) {
        rest
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        digits.as_str()
    };
    (national.len() == 10 && national.starts_with('9')).then(|| format!("+98{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_form_normalizes() {
        for input in [
            "09121234567",
            "9121234567",
            "+989121234567",
            "00989121234567",
            "989121234567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "٠٩١٢١٢٣٤٥٦٧",
            "0912 123 4567",
            "+98 (912) 123-4567",
        ] {
            assert_eq!(
                iran_mobile_e164(input).as_deref(),
                Some("+989121234567"),
                "{input}"
            );
        }
    }

    #[test]
    fn other_numbers_are_refused() {
        for input in [
            "",
            "02112345678",
            "0912123456",
            "091212345678",
            "+449121234567",
            "0912abc4567",
            "++989121234567",
        ] {
            assert_eq!(iran_mobile_e164(input), None, "{input}");
        }
    }
}
