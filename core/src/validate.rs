//! Parsing of user input into values that are valid by construction
//! ("parse, don't validate"). Each parser returns a field error message.

pub fn email(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required");
    }
    if s.len() > 254 {
        return Err("is too long");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err("is not a valid e-mail address");
    };
    let valid_part = |p: &str| {
        !p.is_empty()
            && !p
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    if !valid_part(local) || !valid_part(domain) || !domain.contains('.') || domain.ends_with('.') {
        return Err("is not a valid e-mail address");
    }
    Ok(s.to_lowercase())
}

pub fn password(raw: &str) -> Result<(), &'static str> {
    match raw.chars().count() {
        0..=7 => Err("must be at least 8 characters"),
        8..=128 => Ok(()),
        _ => Err("must be at most 128 characters"),
    }
}

pub fn name(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    match s.chars().count() {
        0 => Err("is required"),
        1..=100 => Ok(s.to_owned()),
        _ => Err("must be at most 100 characters"),
    }
}

/// E.164-ish: an optional `+` and 7 to 15 digits; spaces and dashes are dropped.
pub fn phone(raw: &str) -> Result<String, &'static str> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(cleaned)
    } else {
        Err("must be a phone number of 7 to 15 digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(email(" Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "ann@x",
            "a@b@c.com",
            "ann@x.",
        ] {
            assert!(email(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn passwords_need_eight_to_128_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn phones_accept_common_notations() {
        assert_eq!(phone("+7 701 123-45-67").as_deref(), Ok("+77011234567"));
        assert!(phone("12ab567").is_err());
        assert!(phone("123").is_err());
    }
}
